package inventory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder is an Enqueuer that keeps the follow-up tasks a handler enqueues.
type recorder struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{Type: t.Type()}, nil
}

// mails returns the mail:send payloads enqueued so far.
func (r *recorder) mails(t *testing.T) []tasks.MailSendPayload {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []tasks.MailSendPayload
	for _, tk := range r.tasks {
		if tk.Type() != tasks.TypeMailSend {
			continue
		}
		p, err := tasks.Decode[tasks.MailSendPayload](tk.Payload())
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type testBundle struct {
	st    *store.Store
	inv   *inventory.Inventory
	h     *handlers.Inventory
	rec   *recorder
	clock *clock
}

func setup(t *testing.T, opts inventory.Options) *testBundle {
	t.Helper()
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	b := &testBundle{st: st, rec: &recorder{}, clock: &clock{now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}}
	opts.Now = b.clock.Now
	b.h = handlers.NewInventory(handlers.Deps{
		Store: st, Enqueuer: b.rec, Operators: []string{"ops@example.test", "stock@example.test"},
	}, opts)
	b.inv = b.h.Store()
	return b
}

func level(t *testing.T, inv *inventory.Inventory, sku string) tasks.StockLevel {
	t.Helper()
	l, err := inv.Level(context.Background(), sku)
	require.NoError(t, err)
	return l
}

// requireBalanced checks that the counts equal the ledger: both the running
// sums and the kept entries.
func requireBalanced(t *testing.T, inv *inventory.Inventory, sku string) {
	t.Helper()
	ctx := context.Background()
	d, err := inv.ReconcileSKU(ctx, sku)
	require.NoError(t, err)
	require.False(t, d.Drifted(), "%+v", d)
	on, res, err := inv.LedgerSum(ctx, sku)
	require.NoError(t, err)
	require.Equal(t, d.OnHand, on, "on hand vs ledger entries")
	require.Equal(t, d.Reserved, res, "reserved vs ledger entries")
}

func TestLevelUnknownSKU(t *testing.T) {
	t.Parallel()
	b := setup(t, inventory.Options{})
	_, err := b.inv.Level(context.Background(), "NOPE")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// Each operation applied twice with the same id changes nothing the second
// time and answers with the first outcome.
func TestOperationTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	twice := func(t *testing.T, b *testBundle, sku string, op func() (inventory.Outcome, error)) {
		t.Helper()
		first, err := op()
		require.NoError(t, err)
		require.False(t, first.Duplicate)
		before := level(t, b.inv, sku)
		second, err := op()
		require.NoError(t, err)
		require.True(t, second.Duplicate)
		second.Duplicate = false
		require.Equal(t, first, second)
		require.Equal(t, before, level(t, b.inv, sku))
		requireBalanced(t, b.inv, sku)
	}

	t.Run("Set", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		twice(t, b, "S", func() (inventory.Outcome, error) { return b.inv.Set(ctx, "S", 10, 1, "") })
		require.Equal(t, int64(10), level(t, b.inv, "S").OnHand)
		twice(t, b, "S", func() (inventory.Outcome, error) { return b.inv.Set(ctx, "S", 7, 2, "take-2") })
		require.Equal(t, int64(7), level(t, b.inv, "S").OnHand)

		stale, err := b.inv.Set(ctx, "S", 99, 1, "late-feed")
		require.NoError(t, err)
		require.True(t, stale.Stale)
		require.False(t, stale.Applied)
		require.Equal(t, int64(7), level(t, b.inv, "S").OnHand)
	})
	t.Run("Adjust", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		twice(t, b, "A", func() (inventory.Outcome, error) {
			return b.inv.Adjust(ctx, "A", 12, tasks.ReasonDelivery, "note-1")
		})
		twice(t, b, "A", func() (inventory.Outcome, error) {
			return b.inv.Adjust(ctx, "A", -2, tasks.ReasonDamage, "damage-1")
		})
		require.Equal(t, int64(10), level(t, b.inv, "A").OnHand)
	})
	t.Run("Reserve", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		_, err := b.inv.Set(ctx, "R", 5, 1, "")
		require.NoError(t, err)
		twice(t, b, "R", func() (inventory.Outcome, error) { return b.inv.Reserve(ctx, "R", 3, "o1/l1") })
		require.Equal(t, tasks.StockLevel{SKU: "R", OnHand: 5, Reserved: 3, Available: 2}, level(t, b.inv, "R"))
		// A refusal is also the first outcome, kept.
		twice(t, b, "R", func() (inventory.Outcome, error) { return b.inv.Reserve(ctx, "R", 3, "o2/l1") })
		out, err := b.inv.Reserve(ctx, "R", 3, "o2/l1")
		require.NoError(t, err)
		require.False(t, out.Granted)
		require.Equal(t, inventory.ReasonInsufficient, out.Reason)
	})
	t.Run("Commit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		_, err := b.inv.Set(ctx, "C", 5, 1, "")
		require.NoError(t, err)
		_, err = b.inv.Reserve(ctx, "C", 2, "o1/l1")
		require.NoError(t, err)
		twice(t, b, "C", func() (inventory.Outcome, error) { return b.inv.Commit(ctx, "o1/l1") })
		require.Equal(t, tasks.StockLevel{SKU: "C", OnHand: 3, Reserved: 0, Available: 3}, level(t, b.inv, "C"))
		// A release after the commit does nothing.
		rel, err := b.inv.Release(ctx, "o1/l1")
		require.NoError(t, err)
		require.False(t, rel.Applied)
		require.Equal(t, "reservation committed", rel.Reason)
	})
	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		_, err := b.inv.Set(ctx, "L", 5, 1, "")
		require.NoError(t, err)
		_, err = b.inv.Reserve(ctx, "L", 4, "o1/l1")
		require.NoError(t, err)
		twice(t, b, "L", func() (inventory.Outcome, error) { return b.inv.Release(ctx, "o1/l1") })
		require.Equal(t, tasks.StockLevel{SKU: "L", OnHand: 5, Reserved: 0, Available: 5}, level(t, b.inv, "L"))
		_, err = b.inv.Release(ctx, "never-reserved")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("Expire", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{ReservationTTL: time.Minute})
		_, err := b.inv.Set(ctx, "E", 5, 1, "")
		require.NoError(t, err)
		_, err = b.inv.Reserve(ctx, "E", 4, "o1/l1")
		require.NoError(t, err)
		outs, err := b.inv.ExpireSKU(ctx, "E")
		require.NoError(t, err)
		require.Empty(t, outs, "not yet due")

		b.clock.Add(time.Minute + time.Millisecond)
		for range 2 {
			outs, err = b.inv.ExpireSKU(ctx, "E")
			require.NoError(t, err)
			require.Equal(t, tasks.StockLevel{SKU: "E", OnHand: 5, Reserved: 0, Available: 5}, level(t, b.inv, "E"))
			requireBalanced(t, b.inv, "E")
		}
		require.Empty(t, outs, "second sweep finds nothing")
		com, err := b.inv.Commit(ctx, "o1/l1")
		require.NoError(t, err)
		require.False(t, com.Applied)
		require.Equal(t, "reservation expired", com.Reason)
	})
	t.Run("SetBatch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, inventory.Options{})
		p := tasks.InventorySetBatchPayload{Items: []tasks.InventorySetPayload{
			{SKU: "B1", OnHand: 4, Version: 3}, {SKU: "B2", OnHand: 9, Version: 1},
		}}
		tk, err := tasks.NewInventorySetBatchTask(p)
		require.NoError(t, err)
		for range 2 {
			require.NoError(t, b.h.HandleSetBatch(ctx, tk))
			require.Equal(t, int64(4), level(t, b.inv, "B1").OnHand)
			require.Equal(t, int64(9), level(t, b.inv, "B2").OnHand)
		}
		requireBalanced(t, b.inv, "B1")
	})
}

// B05(a): two orders decrement the same SKU with identical quantities in
// the same second; the operation ids differ, so both apply.
func TestTwoOrdersSameSKUBothApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{})
	_, err := b.inv.Set(ctx, "MUG-BLU", 10, 1, "")
	require.NoError(t, err)

	for _, order := range []string{"ORD-2001", "ORD-2002", "ORD-2001"} {
		tk, err := tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
			SKU: "MUG-BLU", Delta: -1, Reason: tasks.ReasonCorrection, OperationID: order + "/1",
		})
		require.NoError(t, err)
		require.NoError(t, b.h.HandleAdjust(ctx, tk))
	}
	require.Equal(t, int64(8), level(t, b.inv, "MUG-BLU").OnHand)
	requireBalanced(t, b.inv, "MUG-BLU")
}

func TestLowStockOneMailPerCrossing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{LowStockThreshold: 5})
	reserve := func(op string, n int64) {
		tk, err := tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{SKU: "LOW", Quantity: n, OperationID: op})
		require.NoError(t, err)
		require.NoError(t, b.h.HandleReserve(ctx, tk))
		require.NoError(t, b.h.HandleReserve(ctx, tk)) // redelivered
	}
	_, err := b.inv.Set(ctx, "LOW", 10, 1, "")
	require.NoError(t, err)
	require.Empty(t, b.rec.mails(t), "the first count is no crossing")

	reserve("a", 4) // 6 left
	require.Empty(t, b.rec.mails(t))
	reserve("b", 2) // 4 left: crossing 1
	reserve("c", 1) // 3 left: still low
	mails := b.rec.mails(t)
	require.Len(t, mails, 4, "two operators, the second run enqueues again with the same keys")
	keys := map[string]bool{}
	for _, m := range mails {
		require.Equal(t, tasks.TemplateLowStockAlert, m.Template)
		keys[m.EffectKey] = true
	}
	require.Equal(t, map[string]bool{
		"low-stock-alert:LOW:1:ops@example.test": true, "low-stock-alert:LOW:1:stock@example.test": true,
	}, keys)

	_, err = b.inv.Release(ctx, "a") // 7 left: back above
	require.NoError(t, err)
	reserve("d", 3) // 4 left: crossing 2
	keys = map[string]bool{}
	for _, m := range b.rec.mails(t) {
		keys[m.EffectKey] = true
	}
	require.Len(t, keys, 4)
	require.True(t, keys["low-stock-alert:LOW:2:ops@example.test"])
}

func TestBackInStockNotifiesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{LowStockThreshold: -1})
	_, err := b.inv.Set(ctx, "BIS", 1, 1, "")
	require.NoError(t, err)
	_, err = b.inv.Reserve(ctx, "BIS", 1, "o1/1")
	require.NoError(t, err)
	require.NoError(t, b.inv.Subscribe(ctx, "BIS", "ann@example.test"))
	require.NoError(t, b.inv.Subscribe(ctx, "BIS", "bob@example.test"))

	adjust := func(op string, delta int64) {
		tk, err := tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
			SKU: "BIS", Delta: delta, Reason: tasks.ReasonDelivery, OperationID: op,
		})
		require.NoError(t, err)
		require.NoError(t, b.h.HandleAdjust(ctx, tk))
	}
	adjust("delivery-1", 3) // 0 -> 3 available
	adjust("delivery-1", 3) // redelivered
	adjust("delivery-2", 3) // 3 -> 6: no notification
	to := map[string]string{}
	for _, m := range b.rec.mails(t) {
		require.Equal(t, tasks.TemplateBackInStock, m.Template)
		to[m.EffectKey] = m.To
	}
	require.Equal(t, map[string]string{
		"back-in-stock:BIS:1:ann@example.test": "ann@example.test",
		"back-in-stock:BIS:1:bob@example.test": "bob@example.test",
	}, to)
}

func TestReconcileReportsDrift(t *testing.T) {
	ctx := context.Background()
	b := setup(t, inventory.Options{})
	_, err := b.inv.Set(ctx, "OK", 5, 1, "")
	require.NoError(t, err)
	_, err = b.inv.Set(ctx, "BAD", 5, 1, "")
	require.NoError(t, err)
	// Someone edits the count by hand, outside any operation.
	require.NoError(t, b.st.RDB.HIncrBy(ctx, b.st.TagKey("sku", "BAD", "stock"), "on_hand", 2).Err())

	before := testutil.ToFloat64(metrics.StockDrift)
	tk, err := tasks.NewInventoryReconcileTask(tasks.InventoryReconcilePayload{})
	require.NoError(t, err)
	require.NoError(t, b.h.HandleReconcile(ctx, tk))
	require.InDelta(t, before+1, testutil.ToFloat64(metrics.StockDrift), 0)

	var drifted []string
	checked, err := b.inv.Reconcile(ctx, func(d inventory.Drift) { drifted = append(drifted, d.SKU) })
	require.NoError(t, err)
	require.Equal(t, 2, checked)
	require.Equal(t, []string{"BAD"}, drifted)
}

func TestOperationIDOfAnotherSKU(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{})
	_, err := b.inv.Set(ctx, "X", 5, 1, "")
	require.NoError(t, err)
	_, err = b.inv.Set(ctx, "Y", 5, 1, "")
	require.NoError(t, err)
	_, err = b.inv.Reserve(ctx, "X", 1, "op-1")
	require.NoError(t, err)
	_, err = b.inv.Reserve(ctx, "Y", 1, "op-1")
	require.ErrorIs(t, err, inventory.ErrOperationConflict)
	require.Equal(t, int64(0), level(t, b.inv, "Y").Reserved)
}

// Versions beyond 2^53 (nanosecond timestamps) still order exactly.
func TestSetLargeVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{})
	const v = int64(1_733_300_000_000_000_001)
	_, err := b.inv.Set(ctx, "NS", 5, v, "")
	require.NoError(t, err)
	out, err := b.inv.Set(ctx, "NS", 6, v+1, "")
	require.NoError(t, err)
	require.True(t, out.Applied)
	out, err = b.inv.Set(ctx, "NS", 7, v, "again")
	require.NoError(t, err)
	require.True(t, out.Stale)
	require.Equal(t, int64(6), level(t, b.inv, "NS").OnHand)
}

// The sweep releases an expired reservation through the task, and the stock
// coming back notifies the subscribers.
func TestExpireSweepTask(t *testing.T) {
	ctx := context.Background()
	b := setup(t, inventory.Options{ReservationTTL: time.Minute, LowStockThreshold: -1})
	_, err := b.inv.Set(ctx, "SW", 1, 1, "")
	require.NoError(t, err)
	refusedBefore := testutil.ToFloat64(metrics.ReservationsRefused)
	for _, op := range []string{"o1/1", "o2/1"} {
		tk, err := tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{SKU: "SW", Quantity: 1, OperationID: op})
		require.NoError(t, err)
		require.NoError(t, b.h.HandleReserve(ctx, tk))
	}
	require.InDelta(t, refusedBefore+1, testutil.ToFloat64(metrics.ReservationsRefused), 0, "o2 refused")
	require.NoError(t, b.inv.Subscribe(ctx, "SW", "ann@example.test"))

	sweep, err := tasks.NewInventoryExpireSweepTask()
	require.NoError(t, err)
	require.NoError(t, b.h.HandleExpireSweep(ctx, sweep))
	require.Equal(t, int64(1), level(t, b.inv, "SW").Reserved, "not due yet")

	b.clock.Add(2 * time.Minute)
	require.NoError(t, b.h.HandleExpireSweep(ctx, sweep))
	require.NoError(t, b.h.HandleExpireSweep(ctx, sweep))
	require.Equal(t, tasks.StockLevel{SKU: "SW", OnHand: 1, Available: 1}, level(t, b.inv, "SW"))
	mails := b.rec.mails(t)
	require.Len(t, mails, 1)
	require.Equal(t, "back-in-stock:SW:1:ann@example.test", mails[0].EffectKey)
	requireBalanced(t, b.inv, "SW")
}

// Quotes, backslashes, braces and non-ASCII in ids survive the outcome
// the script writes by hand.
func TestOddIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, inventory.Options{})
	sku, op := `RECORD FRAME 7" {SINGLE} \ Größe`, `ORD-"1"/\n/ü`
	_, err := b.inv.Set(ctx, sku, 3, 1, "")
	require.NoError(t, err)
	for range 2 {
		out, err := b.inv.Reserve(ctx, sku, 2, op)
		require.NoError(t, err)
		require.Equal(t, sku, out.SKU)
		require.Equal(t, op, out.OperationID)
		require.True(t, out.Granted)
	}
	out, err := b.inv.Commit(ctx, op)
	require.NoError(t, err)
	require.True(t, out.Applied)
	require.Equal(t, tasks.StockLevel{SKU: sku, OnHand: 1, Available: 1}, level(t, b.inv, sku))
	requireBalanced(t, b.inv, sku)
}
