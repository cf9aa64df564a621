package handlers

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

type catalogBundle struct {
	client *asynq.Client
	insp   *asynq.Inspector
	queue  string
	h      *Catalog
}

// setupCatalog runs the catalog family in a real asynq server on the
// test's own queue.
func setupCatalog(t *testing.T) *catalogBundle {
	t.Helper()
	rdb := testenv.Redis(t)
	st := store.New(rdb, testenv.Prefix(t), store.Lifetimes{})
	client := asynq.NewClientFromRedisClient(rdb)
	queue := testenv.Queue(t, "catalog")

	h := NewCatalog(Deps{Store: st, Enqueuer: client, Operators: []string{"ops@example.test", "Shop Owner <owner@example.test>"}},
		catalog.Options{ChunkSize: 4, PollInterval: 10 * time.Millisecond, WorkDir: t.TempDir()})
	mux := asynq.NewServeMux()
	h.Register(mux)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 4, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
	})
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)
	return &catalogBundle{client: client, insp: asynq.NewInspectorFromRedisClient(rdb), queue: queue, h: h}
}

// importAndWait enqueues a catalog:import and returns its result, as
// `enqueue catalog-import --wait` would print it.
func (b *catalogBundle) importAndWait(t *testing.T, p tasks.CatalogImportPayload) (string, tasks.CatalogImportResult) {
	t.Helper()
	task, err := tasks.NewCatalogImportTask(p, asynq.Queue(b.queue), asynq.Retention(time.Hour))
	require.NoError(t, err)
	info, err := b.client.Enqueue(task)
	require.NoError(t, err)

	var rep tasks.CatalogImportResult
	require.Eventually(t, func() bool {
		cur, err := b.insp.GetTaskInfo(b.queue, info.ID)
		if err != nil || cur.State != asynq.TaskStateCompleted {
			return false
		}
		require.NoError(t, json.Unmarshal(cur.Result, &rep))
		return true
	}, 20*time.Second, 20*time.Millisecond)
	return info.ID, rep
}

// pending returns the pending tasks of a queue whose id starts with prefix.
func (b *catalogBundle) pending(t *testing.T, queue, prefix string) []*asynq.TaskInfo {
	t.Helper()
	all, err := b.insp.ListPendingTasks(queue, asynq.PageSize(1000))
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil
	}
	require.NoError(t, err)
	var out []*asynq.TaskInfo
	for _, ti := range all {
		if strings.HasPrefix(ti.ID, prefix) {
			out = append(out, ti)
		}
	}
	return out
}

func TestCatalogImportEndToEnd(t *testing.T) {
	b := setupCatalog(t)
	src, err := filepath.Abs("../testdata/shopify/home-and-garden.csv")
	require.NoError(t, err)
	payload := tasks.CatalogImportPayload{Source: src, Format: tasks.FormatShopifyCSV, Supplier: "garden", Currency: "USD"}

	runID, rep := b.importAndWait(t, payload)
	require.Equal(t, runID, rep.RunID, "the run id is the task id")
	require.Equal(t, catalog.StatusCompleted, rep.Status)
	require.Equal(t, 21, rep.Rows)
	require.Equal(t, 21, rep.Created)

	// Follow-ups: one price batch and one stock batch per chunk of 4.
	priceTasks := b.pending(t, tasks.QueueDefault, "catalog-prices:"+runID+":")
	require.Len(t, priceTasks, 6)
	sales := 0
	for _, ti := range priceTasks {
		require.Equal(t, tasks.TypePriceUpdateBatch, ti.Type)
		var p tasks.PriceUpdateBatchPayload
		require.NoError(t, json.Unmarshal(ti.Payload, &p))
		require.NoError(t, p.Validate())
		for _, u := range p.Updates {
			if u.SaleAmount != nil {
				sales++
				require.Greater(t, u.Amount, *u.SaleAmount, "compare-at is the amount, price the sale")
			}
		}
	}
	require.Equal(t, 16, sales, "every compare-at sale reaches the price pipeline")
	require.Len(t, b.pending(t, tasks.QueueCritical, "catalog-stock:"+runID+":"), 6)

	mails := b.pending(t, tasks.QueueDefault, tasks.TemplateCatalogReport+":"+runID+":")
	require.Len(t, mails, 2, "one report mail per operator")
	var mail tasks.MailSendPayload
	require.NoError(t, json.Unmarshal(mails[0].Payload, &mail))
	require.Equal(t, tasks.TemplateCatalogReport, mail.Template)
	require.Equal(t, mails[0].ID, mail.EffectKey)
	require.Equal(t, "completed", mail.Data["status"])

	// The product is readable for the admin API.
	p, err := b.h.Catalog().Product(context.Background(), "copper-light")
	require.NoError(t, err)
	require.Equal(t, int64(7500), p.Price)

	// A second run changes nothing and sends no price or stock follow-ups.
	runID2, rep2 := b.importAndWait(t, payload)
	require.Equal(t, 21, rep2.Unchanged)
	require.Zero(t, rep2.Created+rep2.Updated)
	require.Empty(t, b.pending(t, tasks.QueueDefault, "catalog-prices:"+runID2+":"))

	// An import task with the id of a finished run re-attaches to it: the
	// report is that run's, nothing is imported again.
	payload.RunID = runID
	_, again := b.importAndWait(t, payload)
	require.Equal(t, rep.Created, again.Created)
	require.Equal(t, rep.RunID, again.RunID)

	stored, err := b.h.Catalog().Report(context.Background(), runID)
	require.NoError(t, err)
	require.Equal(t, 21, stored.Created, "the report stays readable by run id")
}

func TestCatalogImportFailedFeed(t *testing.T) {
	b := setupCatalog(t)
	task, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
		Source: "/no/such/feed.csv", Format: tasks.FormatShopifyCSV, Supplier: "garden",
	}, asynq.Queue(b.queue), asynq.Retention(time.Hour))
	require.NoError(t, err)
	info, err := b.client.Enqueue(task)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		cur, err := b.insp.GetTaskInfo(b.queue, info.ID)
		if err != nil || cur.State != asynq.TaskStateArchived {
			return false
		}
		var rep tasks.CatalogImportResult
		require.NoError(t, json.Unmarshal(cur.Result, &rep))
		require.Equal(t, catalog.StatusFailed, rep.Status)
		require.Contains(t, cur.LastErr, "no such file")
		return true
	}, 20*time.Second, 20*time.Millisecond, "a missing feed is archived at once with a failed report")
}

func TestCatalogReportMailRenders(t *testing.T) {
	t.Parallel()
	tpl, err := mailer.LoadTemplates("")
	require.NoError(t, err)
	rep := tasks.CatalogImportResult{
		RunID: "run-1", Source: "/feeds/catalog.csv", Status: catalog.StatusCompletedWithErrors, Rows: 10000,
		Created: 9990, Unchanged: 4, RejectedCount: 6,
		Rejected: []tasks.RowError{{Row: 500, Field: "Variant Price", Reason: `"12,99€" is not a decimal amount`}},
	}
	// The data travels as JSON in the mail:send payload.
	raw, err := json.Marshal(reportMailData(rep))
	require.NoError(t, err)
	var data map[string]any
	require.NoError(t, json.Unmarshal(raw, &data))
	data["shop_name"] = "Shop"

	out, err := tpl.Render(tasks.TemplateCatalogReport, data)
	require.NoError(t, err)
	require.Contains(t, out.Subject, "9994 imported, 6 rejected")
	require.Contains(t, out.Text, `row 500, Variant Price: "12,99€" is not a decimal amount`)
	require.Contains(t, out.Text, "/feeds/catalog.csv")
}
