package orders_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

const retailFile = "../../testdata/online-retail/online-retail-10k.csv"

func decodeTask[P any, PP interface {
	*P
	tasks.Validator
}](t *testing.T, tk *asynq.Task) P {
	t.Helper()
	p, err := tasks.Decode[P, PP](tk.Payload())
	require.NoError(t, err)
	return p
}

func TestPlanReplayRules(t *testing.T) {
	t.Parallel()
	file := "\ufeffInvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n" +
		"536365,85123A,WHITE HANGING HEART ,6,12/1/2010 8:26,2.55,17850,United Kingdom\r\n" + // line 2
		"536365,85123a,\"RECORD FRAME 7\"\" SINGLE, SIZE\",2,12/1/2010 8:26,2.1,17850,United Kingdom\r\n" +
		"536365,85123A,WHITE HANGING HEART,1,12/1/2010 8:26,0,17850,United Kingdom\r\n" +
		"536365,POST,POSTAGE,1,12/1/2010 8:26,18,17850,United Kingdom\r\n" + // line 5
		"536366,22633,HAND WARMER,x,12/1/2010 8:28,1.85,,United Kingdom\r\n" +
		"536366,22632,HAND WARMER RED,6,12/1/2010 8:28,1.85,,United Kingdom\r\n" +
		"C536365,85123A,WHITE HANGING HEART,-1,12/1/2010 9:00,2.55,17850,United Kingdom\r\n" +
		"C536999,22632,HAND WARMER RED,-2,12/1/2010 9:01,1.85,,United Kingdom\r\n" +
		"C536999,22633,HAND WARMER,3,12/1/2010 9:01,1.85,,United Kingdom\r\n" + // line 10
		"536400,21777,,-10,12/1/2010 16:50,0,,United Kingdom\r\n" +
		"536401,BANK CHARGES,Bank Charges,1,12/1/2010 16:50,15,,United Kingdom\r\n" +
		"536402,22632,only four,fields\r\n" +
		"536403,22632,HAND WARMER RED,0,12/1/2010 8:28,1.85,,United Kingdom\r\n"
	plan, err := orders.PlanReplay(strings.NewReader(file), orders.ReplayOptions{SeedStock: 50})
	require.NoError(t, err)
	s := plan.Summary
	require.Equal(t, 13, s.Lines)
	require.Equal(t, 8, s.Invoices)
	require.Equal(t, 2, s.Orders)
	require.Equal(t, 2, s.Cancellations)
	require.Equal(t, 1, s.CancelledOrders)
	require.Equal(t, 1, s.Returns)
	require.Equal(t, 1, s.WriteOffs)
	require.Equal(t, 1, s.NonProductOnly)
	require.Equal(t, 2, s.BadOnly)
	require.Equal(t, map[string]int{"POST": 1, "BANK CHARGES": 1}, s.Skipped)
	require.Equal(t, 1, s.ZeroPriceLines)
	var badLines []int
	for _, b := range s.Bad {
		badLines = append(badLines, b.Line)
	}
	require.Equal(t, []int{6, 10, 13, 14}, badLines)
	require.Equal(t, 4, s.SKUs, "85123A, 85123a, 22632, 21777; 22633 is only on bad lines")

	// Seed: one set per product SKU, case-sensitive.
	var seeded []string
	for _, tk := range plan.Seed {
		p := decodeTask[tasks.InventorySetPayload](t, tk)
		require.Equal(t, int64(50), p.OnHand)
		seeded = append(seeded, p.SKU)
	}
	require.Equal(t, []string{"85123A", "85123a", "22632", "21777"}, seeded)

	require.Len(t, plan.Tasks, 5)
	o := decodeTask[tasks.OrderPlacePayload](t, plan.Tasks[0])
	require.Equal(t, "536365", o.OrderID)
	require.Equal(t, "customer-17850@example.test", o.Email)
	require.Equal(t, "2010-12-01T08:26:00Z", o.PlacedAt)
	require.Equal(t, []tasks.OrderLine{
		{LineID: "L2", SKU: "85123A", Quantity: 6, UnitAmount: 255, Currency: "GBP", Description: "WHITE HANGING HEART"},
		{LineID: "L3", SKU: "85123a", Quantity: 2, UnitAmount: 210, Currency: "GBP", Description: `RECORD FRAME 7" SINGLE, SIZE`},
		{LineID: "L4", SKU: "85123A", Quantity: 1, UnitAmount: 0, Currency: "GBP", Description: "WHITE HANGING HEART"},
	}, o.Lines)

	guest := decodeTask[tasks.OrderPlacePayload](t, plan.Tasks[1])
	require.Equal(t, "guest-536366@example.test", guest.Email)
	require.Len(t, guest.Lines, 1)

	cancel := decodeTask[tasks.OrderCancelPayload](t, plan.Tasks[2])
	require.Equal(t, "536365", cancel.OrderID)

	ret := decodeTask[tasks.InventoryAdjustPayload](t, plan.Tasks[3])
	require.Equal(t, tasks.InventoryAdjustPayload{
		SKU: "22632", Delta: 2, Reason: tasks.ReasonReturn, OperationID: "C536999/L9",
	}, ret)
	wo := decodeTask[tasks.InventoryAdjustPayload](t, plan.Tasks[4])
	require.Equal(t, tasks.InventoryAdjustPayload{
		SKU: "21777", Delta: -10, Reason: tasks.ReasonWriteOff, OperationID: "536400/L11",
	}, wo)
}

func TestPlanReplayRealFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(retailFile)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	plan, err := orders.PlanReplay(f, orders.ReplayOptions{})
	require.NoError(t, err)
	s := plan.Summary
	require.Equal(t, 512, s.Invoices)
	require.Equal(t, s.Invoices, s.Orders+s.Cancellations+s.WriteOffs+s.NonProductOnly+s.BadOnly)
	require.Equal(t, 438, s.Orders)
	require.Equal(t, 41, s.Cancellations)
	require.Equal(t, 30, s.WriteOffs)
	require.Equal(t, 3, s.NonProductOnly)
	require.Empty(t, s.Bad)
	skipped := 0
	for _, n := range s.Skipped {
		skipped += n
	}
	require.Equal(t, s.Lines, s.OrderLines+s.ReturnLines+s.WriteOffLines+skipped)
	require.Equal(t, 9999, s.Lines)
	require.Equal(t, 100, s.ReturnLines+2, "100 cancellation lines, two of them discounts (D)")
	require.Equal(t, 30, s.WriteOffLines)
	require.Empty(t, plan.Seed)
}

// expectedStock recomputes every SKU's on-hand count from the file alone,
// as a replay processed one task at a time in file order gives it: every
// product SKU starts at seed; invoices are taken in order of their first
// line; a C invoice puts its quantities back; another invoice's positive
// lines are sold only if all of them fit (a SKU may appear on two lines)
// and its negative lines are written off.
func expectedStock(t *testing.T, seed int64) (stock map[string]int64, refused int) {
	t.Helper()
	data, err := os.ReadFile(retailFile)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))).ReadAll()
	require.NoError(t, err)
	notProduct := map[string]bool{
		"POST": true, "D": true, "M": true, "DOT": true, "BANK CHARGES": true, "C2": true,
		"PADS": true, "AMAZONFEE": true, "CRUK": true, "S": true, "B": true,
	}
	type line struct {
		code string
		qty  int64
	}
	var invoices []string
	lines := map[string][]line{}
	stock = map[string]int64{}
	for _, r := range rows[1:] {
		if notProduct[r[1]] {
			continue
		}
		qty, err := strconv.ParseInt(r[3], 10, 64)
		require.NoError(t, err)
		if _, ok := lines[r[0]]; !ok {
			invoices = append(invoices, r[0])
		}
		lines[r[0]] = append(lines[r[0]], line{r[1], qty})
		stock[r[1]] = seed
	}
	for _, inv := range invoices {
		if strings.HasPrefix(inv, "C") {
			_, original := lines[inv[1:]]
			require.False(t, original, "this file cancels no invoice it holds")
			for _, l := range lines[inv] {
				stock[l.code] -= l.qty
			}
			continue
		}
		need := map[string]int64{}
		for _, l := range lines[inv] {
			if l.qty > 0 {
				need[l.code] += l.qty
			}
		}
		fits := true
		for code, n := range need {
			fits = fits && n <= stock[code]
		}
		if !fits && len(need) > 0 {
			refused++
		}
		for code, n := range need {
			if fits {
				stock[code] -= n
			}
		}
		for _, l := range lines[inv] {
			if l.qty < 0 {
				stock[l.code] += l.qty
			}
		}
	}
	return stock, refused
}

func replayBundle(t *testing.T) (*store.Store, *asynq.ServeMux, *inventory.Inventory) {
	t.Helper()
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	d := handlers.Deps{Store: st, Enqueuer: &recorder{}, Operators: []string{"ops@example.test"}}
	invH := handlers.NewInventory(d, inventory.Options{})
	mux := asynq.NewServeMux()
	handlers.Register(mux, invH, handlers.NewOrders(d, orders.Options{}))
	return st, mux, invH.Store()
}

func planFile(t *testing.T, opts orders.ReplayOptions) orders.Plan {
	t.Helper()
	f, err := os.Open(retailFile)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	plan, err := orders.PlanReplay(f, opts)
	require.NoError(t, err)
	return plan
}

func requireStock(t *testing.T, inv *inventory.Inventory, want map[string]int64) {
	t.Helper()
	got := map[string]tasks.StockLevel{}
	exp := map[string]tasks.StockLevel{}
	for sku, n := range want {
		l, err := inv.Level(context.Background(), sku)
		require.NoError(t, err)
		got[sku] = l
		exp[sku] = tasks.StockLevel{SKU: sku, OnHand: n, Available: n}
	}
	require.Equal(t, exp, got)
}

// Stock scarce enough that many orders are refused: the tasks run one at a
// time in plan order, and every SKU ends exactly where the independent
// computation says.
func TestReplayScarceStockInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, mux, inv := replayBundle(t)
	plan := planFile(t, orders.ReplayOptions{SeedStock: 300})
	for _, tk := range append(plan.Seed, plan.Tasks...) {
		require.NoError(t, mux.ProcessTask(ctx, tk))
	}
	want, refused := expectedStock(t, 300)
	require.Len(t, want, plan.Summary.SKUs)
	require.Positive(t, refused, "some orders must not fit")
	require.Less(t, refused, plan.Summary.Orders/2, "most orders fit")
	requireStock(t, inv, want)
}

// The whole file through three worker processes at once, with stock for
// every order: every order is accepted and every SKU ends exactly where the
// independent computation says.
func TestReplayThroughWorkers(t *testing.T) {
	testenv.RequireRealRedis(t)
	const seed = 1_000_000
	queue := testenv.Queue(t, "replay")
	st, _, inv := replayBundle(t)
	opt := asynq.RedisClientOpt{Addr: testenv.RedisAddr(t), DB: testenv.RedisDB(t)}
	d := handlers.Deps{Store: st, Enqueuer: &recorder{}, Operators: []string{"ops@example.test"}}
	for range 3 {
		srv := asynq.NewServer(opt, asynq.Config{Concurrency: 8, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel})
		mux := asynq.NewServeMux()
		handlers.Register(mux, handlers.NewInventory(d, inventory.Options{}), handlers.NewOrders(d, orders.Options{}))
		require.NoError(t, srv.Start(mux))
		t.Cleanup(srv.Shutdown)
	}
	plan := planFile(t, orders.ReplayOptions{
		SeedStock: seed, TaskOptions: []asynq.Option{asynq.Queue(queue), asynq.Retention(time.Hour)},
	})
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()
	insp := asynq.NewInspector(opt)
	defer func() { _ = insp.Close() }()

	enqueueAndWait := func(ts []*asynq.Task, total int) {
		for _, tk := range ts {
			_, err := client.Enqueue(tk)
			require.NoError(t, err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			info, err := insp.GetQueueInfo(queue)
			require.NoError(t, err)
			if info.Completed == total && info.Size == info.Completed {
				return
			}
			require.True(t, time.Now().Before(deadline), "replay did not finish: %+v", info)
			time.Sleep(50 * time.Millisecond)
		}
	}
	enqueueAndWait(plan.Seed, len(plan.Seed))
	enqueueAndWait(plan.Tasks, len(plan.Seed)+len(plan.Tasks))

	accepted := 0
	for page := 1; ; page++ {
		done, err := insp.ListCompletedTasks(queue, asynq.PageSize(500), asynq.Page(page))
		require.NoError(t, err)
		if len(done) == 0 {
			break
		}
		for _, ti := range done {
			if ti.Type != tasks.TypeOrderPlace {
				continue
			}
			var r tasks.OrderResult
			require.NoError(t, json.Unmarshal(ti.Result, &r))
			require.Equal(t, tasks.OrderAccepted, r.Status, r.Reason)
			accepted++
		}
	}
	require.Equal(t, plan.Summary.Orders, accepted)
	want, refused := expectedStock(t, seed)
	require.Zero(t, refused)
	requireStock(t, inv, want)
}
