package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/orders"
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

func (r *recorder) mails(t *testing.T, template string) []tasks.MailSendPayload {
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
		if p.Template == template {
			out = append(out, p)
		}
	}
	return out
}

type testBundle struct {
	st   *store.Store
	h    *handlers.Orders
	inv  *inventory.Inventory
	pay  *orders.SimulatedPayments
	ship *orders.SimulatedShipments
	rec  *recorder
}

func setup(t *testing.T, sim orders.Simulation) *testBundle {
	t.Helper()
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	b := &testBundle{
		st: st, rec: &recorder{},
		pay: &orders.SimulatedPayments{Sim: sim}, ship: &orders.SimulatedShipments{Sim: sim},
	}
	b.h = handlers.NewOrders(handlers.Deps{Store: st, Enqueuer: b.rec, Operators: []string{"ops@example.test"}},
		orders.Options{Payments: b.pay, Shipments: b.ship, Inventory: inventory.Options{LowStockThreshold: -1}})
	b.inv = b.h.Service().Inventory()
	return b
}

func (b *testBundle) stock(t *testing.T, sku string, n int64) {
	t.Helper()
	_, err := b.inv.Set(context.Background(), sku, n, 1, "")
	require.NoError(t, err)
}

func (b *testBundle) level(t *testing.T, sku string) tasks.StockLevel {
	t.Helper()
	l, err := b.inv.Level(context.Background(), sku)
	require.NoError(t, err)
	return l
}

func (b *testBundle) place(t *testing.T, p tasks.OrderPlacePayload) tasks.OrderResult {
	t.Helper()
	res, err := b.h.Service().Place(context.Background(), p)
	require.NoError(t, err)
	return res
}

// order is a two-line order; SKUs on different hash slots.
func order(id string) tasks.OrderPlacePayload {
	return tasks.OrderPlacePayload{
		OrderID: id, Email: "ann@example.test", Name: "Ann",
		Lines: []tasks.OrderLine{
			{LineID: "1", SKU: "MUG-BLU", Quantity: 2, UnitAmount: 850, Currency: "GBP"},
			{LineID: "2", SKU: "TEA-GRN", Quantity: 1, UnitAmount: 499, Currency: "GBP"},
			{LineID: "3", SKU: "MUG-BLU", Quantity: 1, UnitAmount: 850, Currency: "GBP"},
		},
	}
}

func TestPlaceAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, orders.Simulation{})
	b.stock(t, "MUG-BLU", 10)
	b.stock(t, "TEA-GRN", 5)

	res := b.place(t, order("ORD-1"))
	require.Equal(t, tasks.OrderResult{OrderID: "ORD-1", Status: tasks.OrderAccepted}, res)
	require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 7, Available: 7}, b.level(t, "MUG-BLU"))
	require.Equal(t, tasks.StockLevel{SKU: "TEA-GRN", OnHand: 4, Available: 4}, b.level(t, "TEA-GRN"))

	mails := b.rec.mails(t, tasks.TemplateOrderConfirmation)
	require.Len(t, mails, 1)
	require.Equal(t, "order-confirmation:ORD-1", mails[0].EffectKey)
	require.Equal(t, "ann@example.test", mails[0].To)
	require.Equal(t, "3049", fmt.Sprint(mails[0].Data["total"]))
}

// The order task run again (redelivery, a worker killed after it finished)
// has each step's effect once: stock, payment, shipment, mail.
func TestPlaceTwiceEachStepOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, orders.Simulation{})
	b.stock(t, "MUG-BLU", 10)
	b.stock(t, "TEA-GRN", 5)
	tk, err := tasks.NewOrderPlaceTask(order("ORD-2"))
	require.NoError(t, err)

	for range 3 {
		require.NoError(t, b.h.HandlePlace(ctx, tk))
	}
	require.Equal(t, int64(7), b.level(t, "MUG-BLU").OnHand)
	require.Equal(t, int64(4), b.level(t, "TEA-GRN").OnHand)
	require.Equal(t, int64(1), b.pay.Calls.Load(), "payment authorised once")
	require.Equal(t, int64(1), b.ship.Calls.Load(), "shipment prepared once")
	require.Len(t, b.rec.mails(t, tasks.TemplateOrderConfirmation), 1)
	st, err := b.h.Service().Load(ctx, "ORD-2")
	require.NoError(t, err)
	require.Equal(t, tasks.OrderAccepted, st.Status)
	require.True(t, st.Committed)
}

// A run stopped half way (after reserving and paying) is finished by the
// next run without paying again.
func TestPlaceResumesAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, orders.Simulation{})
	b.stock(t, "MUG-BLU", 10)
	b.stock(t, "TEA-GRN", 5)
	o := order("ORD-3")
	// The first run reserved every line and got its payment, then died.
	for _, l := range o.Lines {
		_, err := b.inv.Reserve(ctx, l.SKU, l.Quantity, orders.LineOp(o.OrderID, l.LineID))
		require.NoError(t, err)
	}
	_, err := b.pay.Authorize(ctx, orders.PaymentRequest{Key: "ORD-3/payment", OrderID: "ORD-3", Amount: 1})
	require.NoError(t, err)

	res := b.place(t, o)
	require.Equal(t, tasks.OrderAccepted, res.Status)
	require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 7, Available: 7}, b.level(t, "MUG-BLU"))
	require.Equal(t, int64(1), b.pay.Effects.Load(), "the same idempotency key authorised once")
}

func TestPaymentFailureReleasesAndMails(t *testing.T) {
	t.Parallel()
	b := setup(t, orders.Simulation{PaymentFailureRate: 1})
	b.stock(t, "MUG-BLU", 10)
	b.stock(t, "TEA-GRN", 5)

	for range 2 {
		res := b.place(t, order("ORD-4"))
		require.Equal(t, tasks.OrderFailed, res.Status)
		require.Contains(t, res.Reason, "declined")
	}
	require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 10, Available: 10}, b.level(t, "MUG-BLU"))
	require.Equal(t, tasks.StockLevel{SKU: "TEA-GRN", OnHand: 5, Available: 5}, b.level(t, "TEA-GRN"))
	mails := b.rec.mails(t, tasks.TemplateOrderFailed)
	require.Len(t, mails, 1)
	require.Equal(t, "order-failed:ORD-4", mails[0].EffectKey)
	require.Contains(t, mails[0].Data["reason"], "declined")
	require.Empty(t, b.rec.mails(t, tasks.TemplateOrderConfirmation))
	require.Equal(t, int64(2), b.ship.Effects.Load(), "the prepared shipment was cancelled")
}

func TestRefusedLineReleasesTheOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, orders.Simulation{})
	b.stock(t, "MUG-BLU", 10)
	b.stock(t, "TEA-GRN", 0)

	res := b.place(t, order("ORD-5"))
	require.Equal(t, tasks.OrderRefused, res.Status)
	require.Contains(t, res.Reason, "line 2 (TEA-GRN): insufficient stock")
	require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 10, Available: 10}, b.level(t, "MUG-BLU"))
	require.Zero(t, b.pay.Calls.Load())
	require.Len(t, b.rec.mails(t, tasks.TemplateOrderFailed), 1)
}

// Deterministic failures: the same seed declines the same orders.
func TestSimulationIsReproducible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	declined := func(seed int64) []bool {
		p := &orders.SimulatedPayments{Sim: orders.Simulation{PaymentFailureRate: 0.3, Seed: seed}}
		var out []bool
		for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
			_, err := p.Authorize(ctx, orders.PaymentRequest{Key: id, OrderID: id})
			out = append(out, errors.Is(err, orders.ErrDeclined))
		}
		return out
	}
	first, again := declined(7), declined(7)
	require.Equal(t, first, again)
	require.Contains(t, first, true)
	require.Contains(t, first, false)
	require.NotEqual(t, first, declined(8), "another seed declines other orders")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("AfterCommitRestocksOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, orders.Simulation{})
		b.stock(t, "MUG-BLU", 10)
		b.stock(t, "TEA-GRN", 5)
		b.place(t, order("ORD-6"))
		tk, err := tasks.NewOrderCancelTask(tasks.OrderCancelPayload{OrderID: "ORD-6"})
		require.NoError(t, err)
		for range 2 {
			require.NoError(t, b.h.HandleCancel(ctx, tk))
		}
		require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 10, Available: 10}, b.level(t, "MUG-BLU"))
		require.Equal(t, tasks.StockLevel{SKU: "TEA-GRN", OnHand: 5, Available: 5}, b.level(t, "TEA-GRN"))
		// A late redelivery of the order does nothing.
		require.Equal(t, tasks.OrderCancelled, b.place(t, order("ORD-6")).Status)
		require.Equal(t, int64(10), b.level(t, "MUG-BLU").OnHand)
	})
	t.Run("BeforePlace", func(t *testing.T) {
		t.Parallel()
		b := setup(t, orders.Simulation{})
		b.stock(t, "MUG-BLU", 10)
		b.stock(t, "TEA-GRN", 5)
		res, err := b.h.Service().Cancel(ctx, tasks.OrderCancelPayload{OrderID: "ORD-7"})
		require.NoError(t, err)
		require.Equal(t, tasks.OrderCancelled, res.Status)
		require.Equal(t, tasks.OrderCancelled, b.place(t, order("ORD-7")).Status)
		require.Equal(t, int64(10), b.level(t, "MUG-BLU").OnHand)
		require.Zero(t, b.pay.Calls.Load())
	})
	t.Run("HalfWayReleases", func(t *testing.T) {
		t.Parallel()
		b := setup(t, orders.Simulation{})
		b.stock(t, "MUG-BLU", 10)
		b.stock(t, "TEA-GRN", 5)
		o := order("ORD-8")
		// A place run that reserved line 1 and died: state says placing.
		svc := b.h.Service()
		_, err := b.inv.Reserve(ctx, "MUG-BLU", 2, orders.LineOp("ORD-8", "1"))
		require.NoError(t, err)
		require.NoError(t, b.st.RDB.HSet(ctx, b.st.TagKey("order", "ORD-8", "saga"),
			"order", mustJSON(t, o), "status", "placing").Err())
		_, err = svc.Cancel(ctx, tasks.OrderCancelPayload{OrderID: "ORD-8"})
		require.NoError(t, err)
		require.Equal(t, tasks.StockLevel{SKU: "MUG-BLU", OnHand: 10, Available: 10}, b.level(t, "MUG-BLU"))
	})
}

func TestBusyOrderIsThrottled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, orders.Simulation{})
	require.NoError(t, b.st.RDB.Set(ctx, b.st.TagKey("order", "ORD-9", "lock"), "other-run", 0).Err())
	tk, err := tasks.NewOrderPlaceTask(order("ORD-9"))
	require.NoError(t, err)
	err = b.h.HandlePlace(ctx, tk)
	var th *handlers.Throttled
	require.ErrorAs(t, err, &th)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}
