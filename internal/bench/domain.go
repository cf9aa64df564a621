package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/tasks"
)

var outcomes = []string{handlers.OutcomeSuccess, handlers.OutcomeRetry, handlers.OutcomeArchived, handlers.OutcomeThrottled}

// processed reads shopq's tasks-processed counter for typ: all outcomes
// and the successful ones.
func processed(typ string) (all, ok int64) {
	spec, _ := tasks.Lookup(typ)
	for _, o := range outcomes {
		v := int64(testutil.ToFloat64(metrics.TasksProcessed.WithLabelValues(typ, spec.Queue, o)))
		all += v
		if o == handlers.OutcomeSuccess {
			ok += v
		}
	}
	return all, ok
}

// family is one domain workload of figure 2.
type family struct {
	Name string
	Type string
	// Seed runs on the built worker before it starts.
	Seed func(ctx context.Context, w *shopqWorker, n int) error
	Task func(i int) (*asynq.Task, error)
}

const benchSKUs = 256

func benchSKU(i int) string { return "BENCH-" + strconv.Itoa(i%benchSKUs) }

func families() []family {
	return []family{
		{
			Name: "inventory reserve", Type: tasks.TypeInventoryReserve,
			Seed: func(ctx context.Context, w *shopqWorker, _ int) error {
				inv := inventory.New(w.app.Store, inventory.Options{})
				for i := range benchSKUs {
					if _, err := inv.Set(ctx, benchSKU(i), tasks.MaxQuantity, 1, inventory.SetOperationID(1)); err != nil {
						return fmt.Errorf("seed stock: %w", err)
					}
				}
				return nil
			},
			Task: func(i int) (*asynq.Task, error) {
				return tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{
					SKU: benchSKU(i), Quantity: 1, OperationID: "bench-op-" + strconv.Itoa(i),
				})
			},
		},
		{
			Name: "price update", Type: tasks.TypePriceUpdate,
			Task: func(i int) (*asynq.Task, error) {
				return tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{
					SKU: benchSKU(i), Amount: int64(1000 + i%500), Currency: "EUR", Version: int64(i + 1), Source: "bench",
				})
			},
		},
		{
			Name: "mail send (file outbox)", Type: tasks.TypeMailSend,
			Task: func(i int) (*asynq.Task, error) {
				return tasks.NewMailSendTask(tasks.MailSendPayload{
					Template: tasks.TemplateOrderFailed, To: "Ada <ada@example.test>",
					Data:      map[string]any{"customer_name": "Ada Lovelace", "order_id": "B-" + strconv.Itoa(i), "reason": "payment declined"},
					EffectKey: "bench-mail:" + strconv.Itoa(i),
				})
			},
		},
	}
}

// domainResult is one run of one family.
type domainResult struct {
	Rate      float64 // tasks/s (rows/s for the catalog)
	PerSecond float64 // chunks/s for the catalog
	Delta     Delta
	Units     int
	Failed    int64
}

// runFamily prefills n tasks of f, starts shopq's default worker and
// measures the rate over the middle 80% of them.
func (e *Env) runFamily(ctx context.Context, f family, n int) (domainResult, error) {
	if err := e.Flush(ctx); err != nil {
		return domainResult{}, err
	}
	if err := os.RemoveAll(filepath.Join(e.Dir, "outbox")); err != nil {
		return domainResult{}, err
	}
	w, err := e.newShopq(shopqOpts{})
	if err != nil {
		return domainResult{}, err
	}
	if f.Seed != nil {
		if err := f.Seed(ctx, w, n); err != nil {
			return domainResult{}, err
		}
	}
	if err := e.prefill(ctx, n, f.Task); err != nil {
		return domainResult{}, err
	}
	all0, ok0 := processed(f.Type)
	before := mustSnapshot(ctx, e.RDB)
	if err := w.start(ctx); err != nil {
		return domainResult{}, err
	}
	defer w.stop()
	lo, hi := int64(n/10), int64(n*9/10)
	var tLo, tHi time.Time
	deadline := time.Now().Add(time.Duration(n)*2*time.Millisecond + 60*time.Second)
	for {
		all, _ := processed(f.Type)
		done := all - all0
		now := time.Now()
		if tLo.IsZero() && done >= lo {
			tLo = now
		}
		if tHi.IsZero() && done >= hi {
			tHi = now
		}
		if done >= int64(n) {
			break
		}
		if now.After(deadline) {
			return domainResult{}, fmt.Errorf("%s: %d of %d tasks: %w", f.Name, done, n, errTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	after := mustSnapshot(ctx, e.RDB)
	all, ok := processed(f.Type)
	return domainResult{
		Rate: float64(hi-lo) / tHi.Sub(tLo).Seconds(), Delta: after.Sub(before), Units: n,
		Failed: (all - all0) - (ok - ok0),
	}, nil
}

// feedPath generates (once) a Shopify-shaped feed of rows rows.
func (e *Env) feedPath(rows int) (string, error) {
	p := filepath.Join(e.Dir, "feed-"+strconv.Itoa(rows)+".csv")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	f, err := os.Create(p + ".tmp")
	if err != nil {
		return "", err
	}
	if err := catalog.GenerateShopifyFeed(f, rows); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(p+".tmp", p)
}

// CatalogRun is one catalog import through shopq's worker.
type CatalogRun struct {
	Rows int `json:"rows"`
	// Seconds from enqueue to the import's completion, with the queues of
	// the follow-up tasks (critical, default) paused.
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_sec"`
	Chunks     int64   `json:"chunks"`
	// EndToEndSeconds adds the follow-up price and stock batches, run after
	// the import (only when asked for).
	EndToEndSeconds float64 `json:"end_to_end_seconds,omitempty"`
	// PeakRSSBytes is the importing process's VmHWM (child runs only).
	PeakRSSBytes int64   `json:"peak_rss_bytes,omitempty"`
	Commands     int64   `json:"redis_commands"`
	RedisCPU     float64 `json:"redis_cpu_seconds"`
}

// followUpQueues hold the price and stock batches a chunk enqueues.
var followUpQueues = []string{tasks.QueueCritical, tasks.QueueDefault}

// importCatalog runs one catalog:import of a generated feed of rows rows
// through shopq's default worker, timed from enqueue to the import's
// completion with the follow-up queues paused, so the figure is the import
// into Redis alone. With followUps, the queues are then resumed and the
// run lasts until every follow-up is done; the Redis delta covers them.
func (e *Env) importCatalog(ctx context.Context, feed string, rows int, followUps bool) (CatalogRun, error) {
	if err := e.Flush(ctx); err != nil {
		return CatalogRun{}, err
	}
	w, err := e.newShopq(shopqOpts{})
	if err != nil {
		return CatalogRun{}, err
	}
	insp := w.app.Inspector
	for _, q := range followUpQueues {
		if err := insp.PauseQueue(q); err != nil {
			return CatalogRun{}, err
		}
	}
	if err := w.start(ctx); err != nil {
		return CatalogRun{}, err
	}
	defer w.stop()
	chunks0, _ := processed(tasks.TypeCatalogChunk)
	before := mustSnapshot(ctx, e.RDB)
	t, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
		Source: feed, Format: tasks.FormatShopifyCSV, Supplier: "bench", Full: true, Force: true,
	}, asynq.Retention(time.Hour))
	if err != nil {
		return CatalogRun{}, err
	}
	start := time.Now()
	info, err := e.Producer.EnqueueContext(ctx, t)
	if err != nil {
		return CatalogRun{}, err
	}
	deadline := start.Add(time.Duration(rows)*time.Millisecond + time.Minute)
	for {
		cur, err := insp.GetTaskInfo(info.Queue, info.ID)
		if err != nil {
			return CatalogRun{}, err
		}
		if cur.State == asynq.TaskStateArchived || cur.State == asynq.TaskStateRetry {
			return CatalogRun{}, fmt.Errorf("import %s: %s", cur.State, cur.LastErr)
		}
		if cur.State == asynq.TaskStateCompleted {
			var rep tasks.CatalogImportResult
			if err := json.Unmarshal(cur.Result, &rep); err != nil {
				return CatalogRun{}, err
			}
			if got := rep.Created + rep.Updated + rep.Unchanged + rep.Skipped; got != rows {
				return CatalogRun{}, fmt.Errorf("import report accounts for %d of %d rows: %+v", got, rows, rep)
			}
			break
		}
		if time.Now().After(deadline) {
			return CatalogRun{}, fmt.Errorf("import of %d rows: %w", rows, errTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	chunks, _ := processed(tasks.TypeCatalogChunk)
	res := CatalogRun{Rows: rows, Seconds: took.Seconds(), RowsPerSec: float64(rows) / took.Seconds(), Chunks: chunks - chunks0}
	if followUps {
		for _, q := range followUpQueues {
			if err := insp.UnpauseQueue(q); err != nil {
				return CatalogRun{}, err
			}
		}
		if err := e.waitIdle(ctx, w, 3*time.Minute); err != nil {
			return CatalogRun{}, err
		}
		res.EndToEndSeconds = time.Since(start).Seconds()
	}
	d := mustSnapshot(ctx, e.RDB).Sub(before)
	res.Commands, res.RedisCPU = d.Commands, d.CPU
	return res, nil
}

// waitIdle waits until no queue holds pending, active, scheduled or retry
// tasks (the import's follow-ups are done).
func (e *Env) waitIdle(ctx context.Context, w *shopqWorker, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		busy := 0
		for q := range tasks.DefaultQueues() {
			info, err := w.app.Inspector.GetQueueInfo(q)
			if err != nil {
				continue // a queue that never held a task does not exist
			}
			busy += info.Pending + info.Active + info.Scheduled + info.Retry
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d tasks still queued: %w", busy, errTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Figure 2 (and its part of figure 7): domain throughput per family, each
// against a bare no-op run in the same round.
func fig2(ctx context.Context, e *Env, r *Reporter, o Options) error {
	nNoop, nTasks, rows := 20000, 8000, 50000
	if o.Quick {
		nNoop, nTasks, rows = 2000, 1000, 5000
	}
	feed, err := e.feedPath(rows)
	if err != nil {
		return err
	}
	fams := families()
	bare := noopKind{Name: "bare-2", Dequeuers: config.DefaultDequeuers}
	var bareRates []float64
	rates := map[string][]float64{}
	cmds := map[string][]float64{}
	cpu := map[string][]float64{}
	failed := map[string]int64{}
	var catRows, catE2E, catChunks, catCmds, catCPU []float64
	for run := range o.Runs {
		b, err := e.runNoop(ctx, bare, nNoop)
		if err != nil {
			return err
		}
		bareRates = append(bareRates, b.Rate)
		e.Log("fig2 run %d bare no-op: %.0f tasks/s", run+1, b.Rate)
		for _, f := range fams {
			res, err := e.runFamily(ctx, f, nTasks)
			if err != nil {
				return err
			}
			rates[f.Name] = append(rates[f.Name], res.Rate)
			cmds[f.Name] = append(cmds[f.Name], float64(res.Delta.Commands)/float64(res.Units))
			cpu[f.Name] = append(cpu[f.Name], res.Delta.CPU*1e6/float64(res.Units))
			failed[f.Name] += res.Failed
			e.Log("fig2 run %d %s: %.0f tasks/s; Redis calls over %d tasks: %s", run+1, f.Name, res.Rate, res.Units, res.Delta.Top(12))
		}
		c, err := e.importCatalog(ctx, feed, rows, true)
		if err != nil {
			return err
		}
		catRows = append(catRows, c.RowsPerSec)
		catE2E = append(catE2E, float64(rows)/c.EndToEndSeconds)
		catChunks = append(catChunks, float64(c.Chunks)/c.Seconds)
		catCmds = append(catCmds, float64(c.Commands)/float64(rows))
		catCPU = append(catCPU, c.RedisCPU*1e6/float64(rows))
		e.Log("fig2 run %d catalog: %.0f rows/s", run+1, c.RowsPerSec)
	}
	r.Printf("\n== fig2: domain throughput, shopq default worker (2 dequeuers x 20), %d tasks per run; bare = 2 asynq servers, no-op ==", nTasks)
	r.Figure("fig2", "bare no-op (2 servers), same rounds", "tasks/s", bareRates, nil, "")
	for _, f := range fams {
		note := ""
		if failed[f.Name] > 0 {
			note = fmt.Sprintf("%d attempts did not succeed", failed[f.Name])
		}
		r.Figure("fig2", f.Name, "tasks/s", rates[f.Name], nil, note)
		var t *Target
		if f.Type == tasks.TypeInventoryReserve {
			t = &Target{Name: "reserve/bare no-op", Value: 0.75}
		}
		r.Figure("fig2", "ratio "+f.Name+" / bare no-op", "x", ratios(rates[f.Name], bareRates), t, "same run")
	}
	r.Figure("fig2", fmt.Sprintf("catalog import %d rows (chunk upserts)", rows), "rows/s", catRows, nil,
		"enqueue to import completed, follow-up queues paused")
	r.Figure("fig2", "catalog chunk upserts (500 rows each)", "chunks/s", catChunks, nil, "")
	r.Figure("fig2", "ratio catalog chunks/s / bare no-op tasks/s", "x", ratios(catChunks, bareRates), nil, "same run")
	r.Figure("fig2", "ratio catalog rows/s / bare no-op tasks/s", "x", ratios(catRows, bareRates), nil, "same run")
	r.Figure("fig2", "catalog import + price/stock follow-ups, end to end", "rows/s", catE2E, nil,
		"enqueue to every follow-up done")
	r.Printf("\n== fig7 (families): Redis commands and CPU per processed task, INFO deltas over each run ==")
	for _, f := range fams {
		r.Figure("fig7", f.Name+" Redis commands per task", "cmds", cmds[f.Name], nil, "")
		r.Figure("fig7", f.Name+" Redis CPU per task", "us", cpu[f.Name], nil, "")
	}
	r.Figure("fig7", "catalog import Redis commands per row", "cmds", catCmds, nil, "incl. follow-up tasks")
	r.Figure("fig7", "catalog import Redis CPU per row", "us", catCPU, nil, "incl. follow-up tasks")
	return nil
}
