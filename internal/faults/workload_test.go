package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/tasks"
)

// mailDomain is the domain of the default sender, shop@example.test.
const mailDomain = "example.test"

// workload is a mix of tasks of every family with the effects they must
// have, each exactly once.
type workload struct {
	name     string
	skus     []string
	initial  int64
	adjusted map[string]int64 // sum of adjust deltas per SKU
	reserved map[string]int64 // sum of reservation quantities per SKU
	ordered  map[string]int64 // sum of ordered quantities per SKU
	prices   map[string]int64 // highest version per SKU (amount = 1000 + version)
	mailKeys map[string]bool  // every effect key that must have one mail
	orders   []string
	runs     []string // catalog import run ids
	promos   []string // promotion ids, each on every SKU
	tasks    []*asynq.Task
	errs     []error
}

func newWorkload(name string, nSKU int) *workload {
	w := &workload{name: name, initial: 100000, adjusted: map[string]int64{}, reserved: map[string]int64{},
		ordered: map[string]int64{}, prices: map[string]int64{}, mailKeys: map[string]bool{}}
	for i := range nSKU {
		w.skus = append(w.skus, fmt.Sprintf("%s-SKU-%02d", name, i))
	}
	return w
}

// seed sets every SKU's stock directly in the store.
func (w *workload) seed(t *testing.T, e *env) {
	t.Helper()
	inv := inventory.New(e.Store, inventory.Options{LowStockThreshold: -1})
	for _, sku := range w.skus {
		_, err := inv.Set(context.Background(), sku, w.initial, 1, "")
		require.NoError(t, err)
	}
}

// add appends a task built by a tasks constructor; a constructor error
// is kept and reported by enqueueAll.
func (w *workload) add(task *asynq.Task, err error) {
	if err != nil {
		w.errs = append(w.errs, err)
		return
	}
	w.tasks = append(w.tasks, task)
}

// addStock adds n adjusts and n reservations with operation ids.
func (w *workload) addStock(t *testing.T, n int) {
	for i := range n {
		sku := w.skus[i%len(w.skus)]
		delta := int64(i%7 + 1)
		if i%3 == 0 {
			delta = -delta
		}
		w.adjusted[sku] += delta
		w.add(tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
			SKU: sku, Delta: delta, Reason: tasks.ReasonCorrection, OperationID: fmt.Sprintf("%s-adj-%d", w.name, i),
		}))
		qty := int64(i%3 + 1)
		w.reserved[sku] += qty
		w.add(tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{
			SKU: sku, Quantity: qty, OperationID: fmt.Sprintf("%s-res-%d", w.name, i),
		}))
	}
}

// addPrices adds versions 1..versions of a price per SKU in shuffled order.
func (w *workload) addPrices(t *testing.T, versions int) {
	for _, sku := range w.skus {
		for _, v := range rand.Perm(versions) {
			v++
			w.add(tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{
				SKU: sku, Amount: 1000 + int64(v), Currency: "EUR", Version: int64(v), Source: "faults",
			}))
		}
		w.prices[sku] = int64(versions)
	}
}

// addMails adds n mails with effect keys; every second one is enqueued
// twice (a producer retrying after a timeout).
func (w *workload) addMails(t *testing.T, n int) {
	for i := range n {
		key := fmt.Sprintf("%s-mail-%d", w.name, i)
		w.mailKeys[key] = true
		p := tasks.MailSendPayload{Template: tasks.TemplateShipmentUpdate, To: fmt.Sprintf("c%d@example.test", i),
			EffectKey: key, Data: map[string]any{
				"customer_name": "C", "order_id": key, "status": "shipped", "carrier": "DHL", "tracking_number": "1Z", "shop_name": "Shop",
			}}
		w.add(tasks.NewMailSendTask(p))
		if i%2 == 0 {
			w.add(tasks.NewMailSendTask(p))
		}
	}
}

// addOrders adds n orders of two lines each.
func (w *workload) addOrders(t *testing.T, n int) {
	for i := range n {
		id := fmt.Sprintf("%s-order-%d", w.name, i)
		a, b := w.skus[i%len(w.skus)], w.skus[(i+1)%len(w.skus)]
		w.ordered[a] += 2
		w.ordered[b]++
		w.orders = append(w.orders, id)
		w.mailKeys[tasks.TemplateOrderConfirmation+":"+id] = true
		w.add(tasks.NewOrderPlaceTask(tasks.OrderPlacePayload{
			OrderID: id, Email: fmt.Sprintf("buyer%d@example.test", i), Lines: []tasks.OrderLine{
				{LineID: "1", SKU: a, Quantity: 2, UnitAmount: 1999, Currency: "EUR"},
				{LineID: "2", SKU: b, Quantity: 1, UnitAmount: 500, Currency: "EUR"},
			},
		}))
	}
}

// addPromotions adds n promotions of 10 % on every SKU, live from an hour
// ago for a month; each is sent twice, with two versions, shuffled.
func (w *workload) addPromotions(n int) {
	now := time.Now().UTC()
	for i := range n {
		id := fmt.Sprintf("%s-promo-%d", w.name, i)
		w.promos = append(w.promos, id)
		for v := int64(1); v <= 2; v++ {
			w.add(tasks.NewPromotionUpsertTask(tasks.PromotionUpsertPayload{
				ID: id, Name: id, Discount: tasks.Discount{Percent: 10}, Target: tasks.Target{SKUs: w.skus},
				StartsAt: now.Add(-time.Hour).Format(time.RFC3339), EndsAt: now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
				Priority: i, Version: v,
			}))
		}
	}
}

// addCatalog imports every Shopify export of testdata/shopify.
func (w *workload) addCatalog(t *testing.T) {
	files, err := filepath.Glob("../../testdata/shopify/*.csv")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for i, f := range files {
		abs, err := filepath.Abs(f)
		require.NoError(t, err)
		run := fmt.Sprintf("%s-run-%d", w.name, i)
		w.runs = append(w.runs, run)
		w.add(tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
			Source: abs, Format: tasks.FormatShopifyCSV, Supplier: fmt.Sprintf("%s-supplier-%d", w.name, i),
			RunID: run, Full: true,
		}))
	}
}

// enqueueAll enqueues every task in a shuffled order.
func (w *workload) enqueueAll(t *testing.T, e *env) {
	t.Helper()
	require.Empty(t, w.errs, "task constructors failed")
	rand.Shuffle(len(w.tasks), func(i, j int) { w.tasks[i], w.tasks[j] = w.tasks[j], w.tasks[i] })
	for _, task := range w.tasks {
		e.enqueue(task, nil)
	}
}

// verify checks that every effect of the workload happened exactly once
// and that no task is open or archived.
func (w *workload) verify(t *testing.T, e *env, out *outbox) {
	t.Helper()
	ctx := context.Background()
	c, err := e.counts()
	require.NoError(t, err)
	require.Zero(t, c.open(), "tasks still open: %+v", c)
	require.Zero(t, c.Archived, "tasks archived: %+v %s", c, archivedErrors(e))

	// Scenario B13: no orphaned task hashes after the fault; every task
	// hash belongs to a task in some state.
	for _, q := range queues {
		info, err := e.Insp.GetQueueInfo(q)
		if err != nil {
			continue
		}
		keys, err := e.RDB.Keys(ctx, "asynq:{"+q+"}:t:*").Result()
		require.NoError(t, err)
		states := info.Pending + info.Active + info.Scheduled + info.Retry + info.Archived + info.Completed + info.Aggregating
		require.Len(t, keys, states, "queue %s: task hashes against tasks in a state: %+v", q, info)
	}

	inv := inventory.New(e.Store, inventory.Options{LowStockThreshold: -1})
	for _, sku := range w.skus {
		lvl, err := inv.Level(ctx, sku)
		require.NoError(t, err)
		require.Equal(t, w.initial+w.adjusted[sku]-w.ordered[sku], lvl.OnHand,
			"%s on hand: initial %d + adjusts %d - ordered %d", sku, w.initial, w.adjusted[sku], w.ordered[sku])
		require.Equal(t, w.reserved[sku], lvl.Reserved, "%s reserved", sku)
		d, err := inv.ReconcileSKU(ctx, sku)
		require.NoError(t, err)
		require.False(t, d.Drifted(), "%s drifted from its ledger: %+v", sku, d)
		onHand, reserved, err := inv.LedgerSum(ctx, sku)
		require.NoError(t, err)
		require.Equal(t, lvl.OnHand, onHand, "%s on hand against the ledger entries", sku)
		require.Equal(t, lvl.Reserved, reserved, "%s reserved against the ledger entries", sku)
	}

	pr := pricing.New(e.Store, pricing.Options{})
	for sku, v := range w.prices {
		view, err := pr.Get(ctx, sku, time.Now())
		require.NoError(t, err, sku)
		require.Equal(t, v, view.Version, "%s price version", sku)
		require.Equal(t, 1000+v, view.Base, "%s price", sku)
		seen := map[string]int{}
		for _, p := range view.Promotions {
			seen[p.ID]++
		}
		for _, id := range w.promos {
			require.Equal(t, 1, seen[id], "%s: promotion %s attached once: %+v", sku, id, view.Promotions)
		}
		if len(w.promos) > 0 {
			require.NotNil(t, view.ActivePromotion, "%s: a live promotion applies", sku)
			require.Less(t, view.Effective, view.Base, "%s: the promotion lowers the price", sku)
		}
	}

	svc := orders.New(e.Store, orders.Options{}, orders.Hooks{})
	for _, id := range w.orders {
		st, err := svc.Load(ctx, id)
		require.NoError(t, err)
		require.Equal(t, tasks.OrderAccepted, st.Status, "order %s", id)
	}

	if out != nil {
		out.check(t, w.mailKeys)
	}

	cat := catalog.New(e.Store, catalog.Options{})
	for _, run := range w.runs {
		rep, err := cat.Report(ctx, run)
		require.NoError(t, err, "catalog run %s", run)
		require.Equal(t, "completed", rep.Status, "catalog run %s: %+v", run, rep)
		require.Positive(t, rep.Rows, "catalog run %s", run)
		require.Equal(t, rep.Rows, rep.Created+rep.Updated+rep.Unchanged+rep.Skipped, "catalog run %s rows: %+v", run, rep)
		require.Zero(t, rep.RejectedCount, "catalog run %s", run)
	}
}

// archivedErrors lists the archived tasks' types and errors.
func archivedErrors(e *env) string {
	var b strings.Builder
	for _, q := range queues {
		infos, err := e.Insp.ListArchivedTasks(q)
		if err != nil {
			continue
		}
		for _, i := range infos {
			fmt.Fprintf(&b, "\n  %s %s: %s", q, i.Type, i.LastErr)
		}
	}
	return b.String()
}

// outbox watches the mail outbox directory: each .eml file must be written
// once. A second send of an effect rewrites the file through a rename,
// which gives it a new inode; the watcher notices that.
type outbox struct {
	dir      string
	mu       sync.Mutex
	inodes   map[string]uint64
	rewrites []string
	stop     chan struct{}
	done     chan struct{}
}

func watchOutbox(t *testing.T, dir string) *outbox {
	o := &outbox{dir: dir, inodes: map[string]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			o.scan()
			select {
			case <-o.stop:
				o.scan()
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(o.close)
	return o
}

func (o *outbox) close() {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	<-o.done
}

func (o *outbox) scan() {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, de := range entries {
		if !strings.HasSuffix(de.Name(), ".eml") || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		if prev, ok := o.inodes[de.Name()]; ok && prev != ino {
			o.rewrites = append(o.rewrites, de.Name())
		}
		o.inodes[de.Name()] = ino
	}
}

// check requires exactly one mail file per key, each written once, with
// the key's Message-ID.
func (o *outbox) check(t *testing.T, keys map[string]bool) {
	t.Helper()
	o.close()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.Empty(t, o.rewrites, "mails sent twice (file rewritten)")
	want := map[string]string{}
	for k := range keys {
		id := mailer.MessageID(k, mailDomain)
		want[strings.SplitN(id, "@", 2)[0]+".eml"] = id
	}
	got := map[string]bool{}
	for name := range o.inodes {
		got[name] = true
	}
	for name, id := range want {
		require.True(t, got[name], "no mail for Message-ID %s", id)
		raw, err := os.ReadFile(filepath.Join(o.dir, name))
		require.NoError(t, err)
		require.Contains(t, string(raw), "<"+id+">")
	}
	require.Len(t, got, len(want), "mails in the outbox")
}
