// Package inventory keeps per-SKU stock in Redis: on hand, reserved and
// available (on hand minus reserved), changed only by operations that each
// carry an operation id and run as one Lua script per SKU.
//
// Every operation writes, in the same script, the new counts, a ledger entry
// for its operation id (the first outcome, returned again with
// Duplicate = true to any repeat) and the running ledger sums that
// reconciliation compares with the counts. All keys of one SKU share the
// hash tag {sku:<SKU>}, so the scripts run on Redis Cluster:
//
//	{prefix}{sku:<SKU>}:stock       hash: on_hand, reserved, version,
//	                                ledger_on_hand, ledger_reserved, low,
//	                                low_seq, out, bis_seq
//	{prefix}{sku:<SKU>}:op:<OP>     hash: one field per action (JSON
//	                                outcome), qty and state of a reservation
//	{prefix}{sku:<SKU>}:held        hash: reservation op id -> quantity
//	{prefix}{sku:<SKU>}:expiry      zset: reservation op id -> expiry (ms)
//	{prefix}{sku:<SKU>}:ledger      zset: op id -> time (ms) of its entry
//	{prefix}{sku:<SKU>}:subs        set: back-in-stock subscribers
//	{prefix}{sku:<SKU>}:bis         hash: notification seq -> JSON list
//	{prefix}{op:<OP>}:sku           string: the SKU of reservation OP, written
//	                                before the reserve script
//	{prefix}inventory:skus          set: every SKU that has stock
//
// Operation records, notifications and the op -> SKU index live for
// store.Lifetimes.Ledger.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Defaults of Options.
const (
	DefaultReservationTTL    = 15 * time.Minute
	DefaultLowStockThreshold = 5
)

// Options configure the inventory.
type Options struct {
	// ReservationTTL is how long a reservation holds stock unless committed
	// or released; the expiry sweep then releases it. Default: 15m.
	ReservationTTL time.Duration
	// LowStockThreshold: available stock going from at least this to below
	// it is one low-stock crossing. 0 means the default, negative turns
	// alerts off. Default: 5.
	LowStockThreshold int64
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.LowStockThreshold == 0 {
		o.LowStockThreshold = DefaultLowStockThreshold
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrOperationConflict is returned when an operation id already names a
// reservation of another SKU.
var ErrOperationConflict = errors.New("operation id already used for another sku")

// Outcome is the result of one operation, as stored in its ledger entry.
type Outcome struct {
	tasks.InventoryResult
	// Quantity is the reservation's quantity (reserve, commit, release).
	Quantity int64 `json:"quantity,omitempty"`
	// LowStock is the number of the low-stock crossing this operation
	// caused; 0 when it caused none.
	LowStock int64 `json:"low_stock,omitempty"`
	// BackInStock is the number of the back-in-stock notification this
	// operation caused (see Subscribers); 0 when none.
	BackInStock int64 `json:"back_in_stock,omitempty"`
	// LedgerOnHand and LedgerReserved are the ledger entry: the change
	// this operation made to the counts.
	LedgerOnHand   int64 `json:"ledger_on_hand"`
	LedgerReserved int64 `json:"ledger_reserved"`
	// At is when it was applied, in Unix milliseconds.
	At int64 `json:"at"`
}

// Reasons a reservation is refused (Outcome.Reason).
const (
	ReasonInsufficient = "insufficient stock"
	ReasonUnknownSKU   = "unknown sku"
)

// Refused reports whether the outcome is a refused reservation.
func (o Outcome) Refused() bool {
	return !o.Granted && (o.Reason == ReasonInsufficient || o.Reason == ReasonUnknownSKU)
}

// Inventory is the stock store.
type Inventory struct {
	st   *store.Store
	opts Options
}

// New returns an Inventory on st.
func New(st *store.Store, opts Options) *Inventory {
	opts.defaults()
	return &Inventory{st: st, opts: opts}
}

// Options returns the effective options.
func (inv *Inventory) Options() Options { return inv.opts }

// SKUsKey is the set of every SKU that has stock.
func (inv *Inventory) SKUsKey() string { return inv.st.Key("inventory", "skus") }

func (inv *Inventory) stockKey(sku string) string { return inv.st.TagKey("sku", sku, "stock") }

func (inv *Inventory) opKey(sku, op string) string { return inv.st.TagKey("sku", sku, "op", op) }

func (inv *Inventory) indexKey(op string) string { return inv.st.TagKey("op", op, "sku") }

func (inv *Inventory) keys(sku, op string) []string {
	return []string{
		inv.stockKey(sku), inv.opKey(sku, op), inv.st.TagKey("sku", sku, "held"),
		inv.st.TagKey("sku", sku, "expiry"), inv.st.TagKey("sku", sku, "subs"),
		inv.st.TagKey("sku", sku, "bis"), inv.st.TagKey("sku", sku, "ledger"),
	}
}

// run applies one action to sku in one script.
func (inv *Inventory) run(ctx context.Context, action, sku, op string, amount int64, arg string) (Outcome, error) {
	raw, err := opScript.Run(ctx, inv.st.RDB, inv.keys(sku, op), inv.args(action, sku, op, amount, arg)...).Result()
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %s: %w", action, sku, err)
	}
	return decodeOutcome(action, sku, raw)
}

func (inv *Inventory) args(action, sku, op string, amount int64, arg string) []any {
	return []any{
		action, sku, op, amount, arg, inv.opts.Now().UnixMilli(),
		inv.opts.ReservationTTL.Milliseconds(), inv.st.Lifetimes.Ledger.Milliseconds(),
		inv.opts.LowStockThreshold,
	}
}

func decodeOutcome(action, sku string, raw any) (Outcome, error) {
	s, ok := raw.(string)
	if !ok {
		return Outcome{}, fmt.Errorf("%s %s: outcome is %T, not a string", action, sku, raw)
	}
	var out Outcome
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return Outcome{}, fmt.Errorf("%s %s: decode outcome: %w", action, sku, err)
	}
	return out, nil
}

// index adds sku to the set of SKUs with stock, before a script that may
// create it, so the sweep and reconciliation never miss a SKU.
func (inv *Inventory) index(ctx context.Context, sku string) error {
	if err := inv.st.RDB.SAdd(ctx, inv.SKUsKey(), sku).Err(); err != nil {
		return fmt.Errorf("index sku %s: %w", sku, err)
	}
	return nil
}

// SetOperationID is the operation id of a set without one: the version
// already identifies it.
func SetOperationID(version int64) string { return "set@" + strconv.FormatInt(version, 10) }

// Set sets sku's on-hand count if version is newer than the applied one;
// otherwise the outcome is Stale. An empty op uses SetOperationID(version).
func (inv *Inventory) Set(ctx context.Context, sku string, onHand, version int64, op string) (Outcome, error) {
	if op == "" {
		op = SetOperationID(version)
	}
	if err := inv.index(ctx, sku); err != nil {
		return Outcome{}, err
	}
	return inv.run(ctx, "set", sku, op, onHand, fmt.Sprintf("%020d", version))
}

// Adjust changes sku's on-hand count by delta for reason. The count may go
// below zero: a write-off records what happened, a later set corrects it.
func (inv *Inventory) Adjust(ctx context.Context, sku string, delta int64, reason, op string) (Outcome, error) {
	if err := inv.index(ctx, sku); err != nil {
		return Outcome{}, err
	}
	return inv.run(ctx, "adjust", sku, op, delta, reason)
}

// Reserve holds qty units of sku for op if that many are available. A
// refusal is an outcome (Granted false, Reason says why), not an error.
//
// The op -> SKU index (for commit and release by operation id) is written
// before the script. On a single server both travel in one pipeline, which
// the server runs in order; on Redis Cluster, where the two keys may live
// on different nodes, the index is written in a round trip of its own.
func (inv *Inventory) Reserve(ctx context.Context, sku string, qty int64, op string) (Outcome, error) {
	if _, cluster := inv.st.RDB.(*redis.ClusterClient); cluster {
		return inv.reserveTwoSteps(ctx, sku, qty, op)
	}
	return inv.reservePipelined(ctx, sku, qty, op)
}

func (inv *Inventory) reserveTwoSteps(ctx context.Context, sku string, qty int64, op string) (Outcome, error) {
	key := inv.indexKey(op)
	ok, err := inv.st.RDB.SetNX(ctx, key, sku, inv.st.Lifetimes.Ledger).Result()
	if err != nil {
		return Outcome{}, fmt.Errorf("reserve %s: index operation: %w", sku, err)
	}
	if !ok {
		got, err := inv.st.RDB.Get(ctx, key).Result()
		if err != nil {
			return Outcome{}, fmt.Errorf("reserve %s: read operation index: %w", sku, err)
		}
		if got != sku {
			return Outcome{}, fmt.Errorf("reserve %s: operation %s: %w", sku, op, ErrOperationConflict)
		}
	}
	return inv.run(ctx, "reserve", sku, op, qty, "")
}

func (inv *Inventory) reservePipelined(ctx context.Context, sku string, qty int64, op string) (Outcome, error) {
	key := inv.indexKey(op)
	for attempt := 0; ; attempt++ {
		pipe := inv.st.RDB.Pipeline()
		pipe.SetNX(ctx, key, sku, inv.st.Lifetimes.Ledger)
		get := pipe.Get(ctx, key)
		ev := pipe.EvalSha(ctx, opScript.Hash(), inv.keys(sku, op), inv.args("reserve", sku, op, qty, "")...)
		_, _ = pipe.Exec(ctx)
		if err := get.Err(); err != nil {
			return Outcome{}, fmt.Errorf("reserve %s: index operation: %w", sku, err)
		}
		if err := ev.Err(); err != nil {
			if redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0 {
				if err := opScript.Load(ctx, inv.st.RDB).Err(); err != nil {
					return Outcome{}, fmt.Errorf("reserve %s: load script: %w", sku, err)
				}
				continue
			}
			return Outcome{}, fmt.Errorf("reserve %s: %w", sku, err)
		}
		if get.Val() != sku {
			// The script ran for an operation id that names another SKU's
			// reservation: give these units back at once.
			if _, err := inv.run(ctx, "release", sku, op, 0, ""); err != nil {
				return Outcome{}, err
			}
			return Outcome{}, fmt.Errorf("reserve %s: operation %s: %w", sku, op, ErrOperationConflict)
		}
		return decodeOutcome("reserve", sku, ev.Val())
	}
}

// Commit turns reservation op into a sale. It returns store.ErrNotFound for
// an operation id that never reserved.
func (inv *Inventory) Commit(ctx context.Context, op string) (Outcome, error) {
	return inv.finish(ctx, "commit", op)
}

// Release gives reservation op back. It returns store.ErrNotFound for an
// operation id that never reserved.
func (inv *Inventory) Release(ctx context.Context, op string) (Outcome, error) {
	return inv.finish(ctx, "release", op)
}

func (inv *Inventory) finish(ctx context.Context, action, op string) (Outcome, error) {
	sku, err := inv.ReservationSKU(ctx, op)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %s: %w", action, op, err)
	}
	return inv.run(ctx, action, sku, op, 0, "")
}

// ReservationSKU returns the SKU reservation op was made for, or
// store.ErrNotFound.
func (inv *Inventory) ReservationSKU(ctx context.Context, op string) (string, error) {
	sku, err := inv.st.RDB.Get(ctx, inv.indexKey(op)).Result()
	if errors.Is(err, redis.Nil) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read operation index: %w", err)
	}
	return sku, nil
}

// Level returns sku's counts, or store.ErrNotFound for a SKU without stock.
func (inv *Inventory) Level(ctx context.Context, sku string) (tasks.StockLevel, error) {
	v, err := inv.st.RDB.HMGet(ctx, inv.stockKey(sku), "on_hand", "reserved").Result()
	if err != nil {
		return tasks.StockLevel{}, fmt.Errorf("level %s: %w", sku, err)
	}
	if v[0] == nil {
		return tasks.StockLevel{}, fmt.Errorf("level %s: %w", sku, store.ErrNotFound)
	}
	on, _ := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
	res, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
	return tasks.StockLevel{SKU: sku, OnHand: on, Reserved: res, Available: on - res}, nil
}

// Subscribe asks for one back-in-stock mail to email when sku next goes
// from none to some available.
func (inv *Inventory) Subscribe(ctx context.Context, sku, email string) error {
	if err := inv.st.RDB.SAdd(ctx, inv.st.TagKey("sku", sku, "subs"), email).Err(); err != nil {
		return fmt.Errorf("subscribe %s: %w", sku, err)
	}
	return nil
}

// Subscribers returns the addresses of back-in-stock notification seq of
// sku (Outcome.BackInStock).
func (inv *Inventory) Subscribers(ctx context.Context, sku string, seq int64) ([]string, error) {
	raw, err := inv.st.RDB.HGet(ctx, inv.st.TagKey("sku", sku, "bis"), strconv.FormatInt(seq, 10)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("subscribers %s: %w", sku, err)
	}
	var out []string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("subscribers %s: decode: %w", sku, err)
	}
	return out, nil
}
