// Package orders runs orders through their steps (validate, reserve every
// line, authorise payment and prepare shipment at once, commit, confirm by
// mail) so that no step has its effect twice for one order, however often
// the task runs; and it plans the replay of the online-retail CSV file.
//
// Step state lives under the order's hash tag:
//
//	{prefix}{order:<ID>}:saga   hash: order (JSON payload), status, target,
//	                            reason, payment, shipment (JSON), committed,
//	                            mailed
//	{prefix}{order:<ID>}:lock   string: token of the run holding the order
//
// Stock operations use the operation id "<order>/<line_id>" per line (the
// reservation, its commit or release) and "<order>/<line_id>/return" for a
// restock. Payment and shipment use the idempotency keys "<order>/payment"
// and "<order>/shipment".
package orders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Statuses kept while an order runs; the final ones are in tasks
// (OrderAccepted, OrderRefused, OrderFailed, OrderCancelled).
const (
	statusPlacing = "placing"
	statusUndoing = "undoing"
)

// DefaultLockTTL bounds how long one run holds an order; it matches the
// orders:place timeout.
const DefaultLockTTL = 2 * time.Minute

var (
	// ErrBusy is returned while another run holds the order.
	ErrBusy = errors.New("order is being processed by another run")
	// ErrInvalidOrder is returned for an order that can never run.
	ErrInvalidOrder = errors.New("invalid order")
)

// Options configure order processing.
type Options struct {
	Inventory inventory.Options
	// Payments and Shipments are the providers; nil means the simulated
	// ones configured by Simulation.
	Payments   Payments
	Shipments  Shipments
	Simulation Simulation
	// LockTTL bounds how long one run holds an order. Default: 2m.
	LockTTL time.Duration
}

// Hooks connect the service to the task layer.
type Hooks struct {
	// Mail enqueues one mail; its effect key makes it go out once.
	Mail func(ctx context.Context, p tasks.MailSendPayload) error
	// Stock receives every stock outcome (low-stock and back-in-stock
	// follow-ups).
	Stock func(ctx context.Context, out inventory.Outcome) error
}

// Service runs orders.
type Service struct {
	st    *store.Store
	inv   *inventory.Inventory
	pay   Payments
	ship  Shipments
	hooks Hooks
	lock  time.Duration
}

// New returns a Service on st.
func New(st *store.Store, opts Options, hooks Hooks) *Service {
	s := &Service{
		st: st, inv: inventory.New(st, opts.Inventory), pay: opts.Payments, ship: opts.Shipments,
		hooks: hooks, lock: opts.LockTTL,
	}
	if s.pay == nil {
		s.pay = &SimulatedPayments{Sim: opts.Simulation}
	}
	if s.ship == nil {
		s.ship = &SimulatedShipments{Sim: opts.Simulation}
	}
	if s.lock <= 0 {
		s.lock = DefaultLockTTL
	}
	if s.hooks.Mail == nil {
		s.hooks.Mail = func(context.Context, tasks.MailSendPayload) error { return nil }
	}
	if s.hooks.Stock == nil {
		s.hooks.Stock = func(context.Context, inventory.Outcome) error { return nil }
	}
	return s
}

// Inventory returns the stock store the service reserves from.
func (s *Service) Inventory() *inventory.Inventory { return s.inv }

// Payments returns the payment provider in use.
func (s *Service) Payments() Payments { return s.pay }

// Shipments returns the shipping provider in use.
func (s *Service) Shipments() Shipments { return s.ship }

// LineOp is the operation id of an order line's reservation.
func LineOp(orderID, lineID string) string { return orderID + "/" + lineID }

// ReturnOp is the operation id of an order line's restock.
func ReturnOp(orderID, lineID string) string { return LineOp(orderID, lineID) + "/return" }

// State is an order's step state.
type State struct {
	Order     tasks.OrderPlacePayload
	Status    string
	Target    string
	Reason    string
	Payment   *Authorization
	Shipment  *Shipment
	Committed bool
	Mailed    bool
}

func (s *Service) sagaKey(id string) string { return s.st.TagKey("order", id, "saga") }

// Load returns an order's step state; Status is empty for an unknown order.
func (s *Service) Load(ctx context.Context, id string) (State, error) {
	m, err := s.st.RDB.HGetAll(ctx, s.sagaKey(id)).Result()
	if err != nil {
		return State{}, fmt.Errorf("load order %s: %w", id, err)
	}
	st := State{
		Status: m["status"], Target: m["target"], Reason: m["reason"],
		Committed: m["committed"] == "1", Mailed: m["mailed"] == "1",
	}
	for field, dst := range map[string]any{"order": &st.Order, "payment": &st.Payment, "shipment": &st.Shipment} {
		if raw, ok := m[field]; ok {
			if err := json.Unmarshal([]byte(raw), dst); err != nil {
				return State{}, fmt.Errorf("load order %s: %s: %w", id, field, err)
			}
		}
	}
	return st, nil
}

// save writes fields of the order's state and renews its lifetime.
func (s *Service) save(ctx context.Context, id string, fields ...any) error {
	key := s.sagaKey(id)
	_, err := s.st.RDB.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, s.st.Lifetimes.Ledger)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save order %s: %w", id, err)
	}
	return nil
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// acquire takes the order's lock, so two runs of one order (a redelivery
// while the first still runs) never interleave their steps.
func (s *Service) acquire(ctx context.Context, id string) (func(), error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	key := s.st.TagKey("order", id, "lock")
	ok, err := s.st.RDB.SetNX(ctx, key, token, s.lock).Result()
	if err != nil {
		return nil, fmt.Errorf("lock order %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("order %s: %w", id, ErrBusy)
	}
	return func() {
		_ = unlockScript.Run(context.WithoutCancel(ctx), s.st.RDB, []string{key}, token).Err()
	}, nil
}

func total(p tasks.OrderPlacePayload) (int64, error) {
	var sum int64
	for _, l := range p.Lines {
		if l.Quantity > 0 && l.UnitAmount > (math.MaxInt64-sum)/l.Quantity {
			return 0, fmt.Errorf("order %s: total overflows: %w", p.OrderID, ErrInvalidOrder)
		}
		sum += l.Quantity * l.UnitAmount
	}
	return sum, nil
}

func result(st State) tasks.OrderResult {
	return tasks.OrderResult{OrderID: st.Order.OrderID, Status: st.Status, Reason: st.Reason}
}

// Place runs an order through its steps; every step already done is
// skipped, so running it again has no further effect.
func (s *Service) Place(ctx context.Context, p tasks.OrderPlacePayload) (tasks.OrderResult, error) {
	if _, err := total(p); err != nil {
		return tasks.OrderResult{}, err
	}
	unlock, err := s.acquire(ctx, p.OrderID)
	if err != nil {
		return tasks.OrderResult{}, err
	}
	defer unlock()

	st, err := s.Load(ctx, p.OrderID)
	if err != nil {
		return tasks.OrderResult{}, err
	}
	switch st.Status {
	case tasks.OrderCancelled:
		st.Order.OrderID = p.OrderID
		return result(st), nil
	case tasks.OrderAccepted, tasks.OrderRefused, tasks.OrderFailed:
		return s.final(ctx, st)
	case statusUndoing:
		return s.undoAndFinish(ctx, st)
	case "":
		data, err := json.Marshal(p)
		if err != nil {
			return tasks.OrderResult{}, fmt.Errorf("encode order %s: %w", p.OrderID, err)
		}
		if err := s.save(ctx, p.OrderID, "order", data, "status", statusPlacing); err != nil {
			return tasks.OrderResult{}, err
		}
		st.Order, st.Status = p, statusPlacing
	}
	return s.run(ctx, st)
}

// run does the steps after the state is recorded: reserve, pay and ship,
// commit, confirm.
func (s *Service) run(ctx context.Context, st State) (tasks.OrderResult, error) {
	o := st.Order
	for _, l := range o.Lines {
		out, err := s.inv.Reserve(ctx, l.SKU, l.Quantity, LineOp(o.OrderID, l.LineID))
		if errors.Is(err, inventory.ErrOperationConflict) {
			return s.fail(ctx, st, tasks.OrderRefused, fmt.Sprintf("line %s: operation id in use", l.LineID))
		}
		if err != nil {
			return tasks.OrderResult{}, err
		}
		if err := s.hooks.Stock(ctx, out); err != nil {
			return tasks.OrderResult{}, err
		}
		if !out.Granted {
			return s.fail(ctx, st, tasks.OrderRefused, fmt.Sprintf("line %s (%s): %s", l.LineID, l.SKU, out.Reason))
		}
	}

	if err := s.payAndShip(ctx, &st); err != nil {
		if errors.Is(err, ErrDeclined) {
			return s.fail(ctx, st, tasks.OrderFailed, err.Error())
		}
		return tasks.OrderResult{}, err
	}

	if !st.Committed {
		for _, l := range o.Lines {
			out, err := s.inv.Commit(ctx, LineOp(o.OrderID, l.LineID))
			if err != nil {
				return tasks.OrderResult{}, err
			}
			if !out.Applied {
				return s.fail(ctx, st, tasks.OrderFailed, fmt.Sprintf("line %s (%s): %s", l.LineID, l.SKU, out.Reason))
			}
		}
		if err := s.save(ctx, o.OrderID, "committed", "1"); err != nil {
			return tasks.OrderResult{}, err
		}
	}

	if err := s.save(ctx, o.OrderID, "status", tasks.OrderAccepted); err != nil {
		return tasks.OrderResult{}, err
	}
	st.Status = tasks.OrderAccepted
	return s.final(ctx, st)
}

// payAndShip authorises the payment and prepares the shipment at once,
// each unless already done; a result is stored as soon as it arrives.
func (s *Service) payAndShip(ctx context.Context, st *State) error {
	o := st.Order
	amount, _ := total(o)
	var items int64
	for _, l := range o.Lines {
		items += l.Quantity
	}
	var wg sync.WaitGroup
	var payErr, shipErr error
	if st.Payment == nil {
		wg.Go(func() {
			a, err := s.pay.Authorize(ctx, PaymentRequest{
				Key: o.OrderID + "/payment", OrderID: o.OrderID, Amount: amount, Currency: o.Lines[0].Currency,
			})
			if err == nil {
				st.Payment = &a
				err = s.saveJSON(ctx, o.OrderID, "payment", a)
			}
			payErr = err
		})
	}
	if st.Shipment == nil {
		wg.Go(func() {
			sh, err := s.ship.Prepare(ctx, ShipmentRequest{Key: o.OrderID + "/shipment", OrderID: o.OrderID, Items: items})
			if err == nil {
				st.Shipment = &sh
				err = s.saveJSON(ctx, o.OrderID, "shipment", sh)
			}
			shipErr = err
		})
	}
	wg.Wait()

	for _, err := range []error{payErr, shipErr} {
		if errors.Is(err, ErrDeclined) {
			return err
		}
	}
	return errors.Join(payErr, shipErr)
}

func (s *Service) saveJSON(ctx context.Context, id, field string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s of order %s: %w", field, id, err)
	}
	return s.save(ctx, id, field, data)
}

// fail records that the order ends as target and undoes what was done.
func (s *Service) fail(ctx context.Context, st State, target, reason string) (tasks.OrderResult, error) {
	if err := s.save(ctx, st.Order.OrderID, "status", statusUndoing, "target", target, "reason", reason); err != nil {
		return tasks.OrderResult{}, err
	}
	st.Status, st.Target, st.Reason = statusUndoing, target, reason
	return s.undoAndFinish(ctx, st)
}

func (s *Service) undoAndFinish(ctx context.Context, st State) (tasks.OrderResult, error) {
	if err := s.undo(ctx, st); err != nil {
		return tasks.OrderResult{}, err
	}
	if err := s.save(ctx, st.Order.OrderID, "status", st.Target); err != nil {
		return tasks.OrderResult{}, err
	}
	st.Status = st.Target
	return s.final(ctx, st)
}

// undo voids the payment, cancels the shipment, releases every line's
// reservation and restocks every line already committed. Each part is
// idempotent, so undo may run again after a crash.
func (s *Service) undo(ctx context.Context, st State) error {
	o := st.Order
	if st.Payment != nil {
		if err := s.pay.Void(ctx, *st.Payment); err != nil {
			return fmt.Errorf("void payment of order %s: %w", o.OrderID, err)
		}
	}
	if st.Shipment != nil {
		if err := s.ship.Cancel(ctx, *st.Shipment); err != nil {
			return fmt.Errorf("cancel shipment of order %s: %w", o.OrderID, err)
		}
	}
	for _, l := range o.Lines {
		out, err := s.inv.Release(ctx, LineOp(o.OrderID, l.LineID))
		if errors.Is(err, store.ErrNotFound) {
			continue // never reserved
		}
		if err != nil {
			return err
		}
		if err := s.hooks.Stock(ctx, out); err != nil {
			return err
		}
		if out.Reason != "reservation committed" {
			continue
		}
		ret, err := s.inv.Adjust(ctx, l.SKU, l.Quantity, tasks.ReasonReturn, ReturnOp(o.OrderID, l.LineID))
		if err != nil {
			return err
		}
		if err := s.hooks.Stock(ctx, ret); err != nil {
			return err
		}
	}
	return nil
}

// final sends the order's mail unless sent before and returns its result.
func (s *Service) final(ctx context.Context, st State) (tasks.OrderResult, error) {
	if st.Mailed || st.Status == tasks.OrderCancelled {
		return result(st), nil
	}
	if err := s.hooks.Mail(ctx, mailFor(st)); err != nil {
		return tasks.OrderResult{}, err
	}
	if err := s.save(ctx, st.Order.OrderID, "mailed", "1"); err != nil {
		return tasks.OrderResult{}, err
	}
	return result(st), nil
}

// mailFor is the customer's mail for a finished order.
func mailFor(st State) tasks.MailSendPayload {
	o := st.Order
	customer := o.Name
	if customer == "" {
		customer = "customer"
	}
	// Keys follow the templates' data contract (docs/mail.md).
	data := map[string]any{"order_id": o.OrderID, "name": o.Name, "customer_name": customer, "status": st.Status}
	if st.Status != tasks.OrderAccepted {
		data["reason"] = st.Reason
		return tasks.MailSendPayload{
			Template: tasks.TemplateOrderFailed, To: o.Email, Data: data,
			EffectKey: tasks.TemplateOrderFailed + ":" + o.OrderID,
		}
	}
	lines := make([]map[string]any, 0, len(o.Lines))
	for _, l := range o.Lines {
		title := strings.TrimSpace(l.Description)
		if title == "" {
			title = l.SKU
		}
		lines = append(lines, map[string]any{
			"line_id": l.LineID, "sku": l.SKU, "title": title,
			"quantity": l.Quantity, "unit_price": l.UnitAmount,
		})
	}
	amount, _ := total(o)
	data["items"], data["total"], data["currency"], data["placed_at"] = lines, amount, o.Lines[0].Currency, o.PlacedAt
	return tasks.MailSendPayload{
		Template: tasks.TemplateOrderConfirmation, To: o.Email, Data: data,
		EffectKey: tasks.TemplateOrderConfirmation + ":" + o.OrderID,
	}
}

// Cancel cancels an order: reservations are released, committed lines
// restocked as returns, the payment voided and the shipment cancelled. An
// order not yet placed is marked cancelled, so a late orders:place does
// nothing.
func (s *Service) Cancel(ctx context.Context, p tasks.OrderCancelPayload) (tasks.OrderResult, error) {
	unlock, err := s.acquire(ctx, p.OrderID)
	if err != nil {
		return tasks.OrderResult{}, err
	}
	defer unlock()

	st, err := s.Load(ctx, p.OrderID)
	if err != nil {
		return tasks.OrderResult{}, err
	}
	st.Order.OrderID = p.OrderID
	switch st.Status {
	case tasks.OrderCancelled:
		return result(st), nil
	case "":
		st.Reason = "cancelled before it was placed"
	case tasks.OrderRefused, tasks.OrderFailed:
		st.Reason = "order had " + st.Status + ": " + st.Reason
	default: // accepted, or a run that stopped half way
		if err := s.undo(ctx, st); err != nil {
			return tasks.OrderResult{}, err
		}
		st.Reason = p.Reason
	}
	st.Status = tasks.OrderCancelled
	if err := s.save(ctx, p.OrderID, "status", st.Status, "reason", st.Reason); err != nil {
		return tasks.OrderResult{}, err
	}
	return result(st), nil
}
