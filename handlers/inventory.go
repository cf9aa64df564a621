package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Inventory runs the inventory family: set, set-batch, adjust, reserve,
// commit, release, and the periodic expire-sweep and reconcile.
type Inventory struct {
	d   Deps
	inv *inventory.Inventory
}

// NewInventory returns the inventory family. When opts.Now is nil it uses
// d.Now.
func NewInventory(d Deps, opts inventory.Options) *Inventory {
	if opts.Now == nil {
		opts.Now = d.now
	}
	return &Inventory{d: d, inv: inventory.New(d.Store, opts)}
}

// Store returns the inventory the family works on (for reads such as Level
// and Subscribe).
func (h *Inventory) Store() *inventory.Inventory { return h.inv }

// Register adds the inventory task types to mux.
func (h *Inventory) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypeInventorySet, h.HandleSet)
	mux.HandleFunc(tasks.TypeInventorySetBatch, h.HandleSetBatch)
	mux.HandleFunc(tasks.TypeInventoryAdjust, h.HandleAdjust)
	mux.HandleFunc(tasks.TypeInventoryReserve, h.HandleReserve)
	mux.HandleFunc(tasks.TypeInventoryCommit, h.HandleCommit)
	mux.HandleFunc(tasks.TypeInventoryRelease, h.HandleRelease)
	mux.HandleFunc(tasks.TypeInventoryExpireSweep, h.HandleExpireSweep)
	mux.HandleFunc(tasks.TypeInventoryReconcile, h.HandleReconcile)
}

// HandleSet runs inventory:set.
func (h *Inventory) HandleSet(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventorySetPayload](t)
	if err != nil {
		return err
	}
	out, err := h.inv.Set(ctx, p.SKU, p.OnHand, p.Version, p.OperationID)
	return h.finish(ctx, t, out, err)
}

// HandleSetBatch runs inventory:set-batch: each item as if it came alone.
func (h *Inventory) HandleSetBatch(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventorySetBatchPayload](t)
	if err != nil {
		return err
	}
	res := tasks.InventoryBatchResult{Results: make([]tasks.InventoryResult, 0, len(p.Items))}
	for _, it := range p.Items {
		out, err := h.inv.Set(ctx, it.SKU, it.OnHand, it.Version, it.OperationID)
		if err != nil {
			return err // transient; the items done so far answer as duplicates
		}
		if err := h.followUps(ctx, out); err != nil {
			return err
		}
		res.Results = append(res.Results, out.InventoryResult)
	}
	return WriteResult(t, res)
}

// HandleAdjust runs inventory:adjust.
func (h *Inventory) HandleAdjust(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventoryAdjustPayload](t)
	if err != nil {
		return err
	}
	out, err := h.inv.Adjust(ctx, p.SKU, p.Delta, p.Reason, p.OperationID)
	return h.finish(ctx, t, out, err)
}

// HandleReserve runs inventory:reserve. A refusal is a result, not an error.
func (h *Inventory) HandleReserve(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventoryReservePayload](t)
	if err != nil {
		return err
	}
	out, err := h.inv.Reserve(ctx, p.SKU, p.Quantity, p.OperationID)
	if errors.Is(err, inventory.ErrOperationConflict) {
		return Permanent(err)
	}
	return h.finish(ctx, t, out, err)
}

// HandleCommit runs inventory:commit.
func (h *Inventory) HandleCommit(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventoryOperationPayload](t)
	if err != nil {
		return err
	}
	out, err := h.inv.Commit(ctx, p.OperationID)
	if err := notReservedYet(ctx, err); err != nil {
		return err
	}
	return h.finish(ctx, t, out, err)
}

// HandleRelease runs inventory:release.
func (h *Inventory) HandleRelease(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventoryOperationPayload](t)
	if err != nil {
		return err
	}
	out, err := h.inv.Release(ctx, p.OperationID)
	if err := notReservedYet(ctx, err); err != nil {
		return err
	}
	return h.finish(ctx, t, out, err)
}

// reservationGraceRetries is how many times a commit or release whose
// reservation is unknown is retried (about 15 s with the default backoff)
// before it is archived: a producer may enqueue a reservation and its
// commit together, and the commit may overtake it.
const reservationGraceRetries = 3

// notReservedYet turns an unknown reservation into a transient error while
// the task is within its grace retries; otherwise it returns nil and the
// caller archives it as usual.
func notReservedYet(ctx context.Context, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if n, _ := asynq.GetRetryCount(ctx); n < reservationGraceRetries {
		return fmt.Errorf("no reservation with this operation id yet (retry %d of %d before archiving): %v",
			n+1, reservationGraceRetries, err) //nolint:errorlint // deliberately not wrapped: transient until the grace ends
	}
	return nil
}

// finish classifies err, sends the outcome's follow-ups and writes the result.
func (h *Inventory) finish(ctx context.Context, t *asynq.Task, out inventory.Outcome, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return Permanent(err)
	}
	if err != nil {
		return err
	}
	if err := h.followUps(ctx, out); err != nil {
		return err
	}
	return WriteResult(t, out.InventoryResult)
}

// followUps counts a refusal and enqueues the mails of a low-stock crossing
// and of a back-in-stock notification. They are sent again for a duplicate
// (the first run may have stopped before enqueueing): the effect keys make
// each mail go out once.
func (h *Inventory) followUps(ctx context.Context, out inventory.Outcome) error {
	return stockFollowUps(ctx, h.d, h.inv, out)
}

func stockFollowUps(ctx context.Context, d Deps, inv *inventory.Inventory, out inventory.Outcome) error {
	if out.Refused() && !out.Duplicate {
		metrics.ReservationsRefused.Inc()
	}
	if out.LowStock > 0 {
		for _, op := range d.Operators {
			key := effectKey("low-stock-alert", out.SKU, strconv.FormatInt(out.LowStock, 10), op)
			err := enqueueMail(ctx, d, tasks.MailSendPayload{
				Template: tasks.TemplateLowStockAlert, To: op, EffectKey: key,
				Data: map[string]any{
					"sku": out.SKU, "product_title": out.SKU, "available": out.Available, "on_hand": out.OnHand,
					"reserved": out.Reserved, "threshold": inv.Options().LowStockThreshold,
				},
			})
			if err != nil {
				return err
			}
		}
	}
	if out.BackInStock > 0 {
		subs, err := inv.Subscribers(ctx, out.SKU, out.BackInStock)
		if err != nil {
			return err
		}
		for _, to := range subs {
			key := effectKey("back-in-stock", out.SKU, strconv.FormatInt(out.BackInStock, 10), to)
			err := enqueueMail(ctx, d, tasks.MailSendPayload{
				Template: tasks.TemplateBackInStock, To: to, EffectKey: key,
				Data: map[string]any{"sku": out.SKU, "product_title": out.SKU, "available": out.Available},
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueueMail enqueues one mail:send; an invalid address is logged and
// skipped (it would never send), an enqueue failure is returned (retried).
func enqueueMail(ctx context.Context, d Deps, p tasks.MailSendPayload) error {
	t, err := tasks.NewMailSendTask(p)
	if err != nil {
		if d.Logger != nil {
			d.Logger.WarnContext(ctx, "mail not enqueued: invalid",
				slog.String("template", p.Template), slog.Any("error", err))
		}
		return nil
	}
	if d.Enqueuer == nil {
		return nil
	}
	if _, err := d.Enqueuer.EnqueueContext(ctx, t); err != nil {
		return fmt.Errorf("enqueue %s mail: %w", p.Template, err)
	}
	return nil
}

// effectKey joins parts with ":"; a key longer than the id limit is
// shortened to its prefix and a hash.
func effectKey(parts ...string) string {
	k := strings.Join(parts, ":")
	if len(k) <= tasks.MaxIDLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return parts[0] + ":" + hex.EncodeToString(sum[:])
}

// HandleExpireSweep runs inventory:expire-sweep.
func (h *Inventory) HandleExpireSweep(ctx context.Context, t *asynq.Task) error {
	if _, err := decode[tasks.InventorySweepPayload](t); err != nil {
		return err
	}
	var res tasks.InventorySweepResult
	checked, err := h.inv.Sweep(ctx, func(o inventory.Outcome) error {
		res.Expired++
		return h.followUps(ctx, o)
	})
	res.Checked = checked
	if err != nil {
		return err
	}
	return WriteResult(t, res)
}

// HandleReconcile runs inventory:reconcile: every SKU (or one) is checked;
// drift is logged, counted in metrics.StockDrift and listed in the result.
func (h *Inventory) HandleReconcile(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.InventoryReconcilePayload](t)
	if err != nil {
		return err
	}
	var res tasks.InventoryReconcileResult
	report := func(d inventory.Drift) {
		res.Drifted = append(res.Drifted, d.SKU)
		metrics.StockDrift.Inc()
		if h.d.Logger != nil {
			h.d.Logger.WarnContext(ctx, "stock drift", slog.String("sku", d.SKU),
				slog.Int64("on_hand", d.OnHand), slog.Int64("ledger_on_hand", d.LedgerOnHand),
				slog.Int64("reserved", d.Reserved), slog.Int64("ledger_reserved", d.LedgerReserved),
				slog.Int64("held", d.Held))
		}
	}
	if p.SKU != "" {
		d, err := h.inv.ReconcileSKU(ctx, p.SKU)
		if err != nil {
			return err
		}
		res.Checked = 1
		if d.Drifted() {
			report(d)
		}
		return WriteResult(t, res)
	}
	res.Checked, err = h.inv.Reconcile(ctx, report)
	if err != nil {
		return err
	}
	return WriteResult(t, res)
}
