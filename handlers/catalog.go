package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// reportMailRejects bounds the rejected rows a report mail lists.
const reportMailRejects = 20

// Catalog handles catalog:import (fetch, validate and split a feed, then
// wait for its chunks and report) and catalog:chunk (apply one chunk and
// enqueue its follow-ups).
type Catalog struct {
	d Deps
	c *catalog.Catalog
}

// NewCatalog returns the catalog family on d.Store.
func NewCatalog(d Deps, opts catalog.Options) *Catalog {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	c := catalog.New(d.Store, opts)
	c.Now = d.now
	return &Catalog{d: d, c: c}
}

// Catalog returns the family's catalog (for GET /api/v1/products/{sku} and
// run reports).
func (h *Catalog) Catalog() *catalog.Catalog { return h.c }

// Register adds the catalog task types to mux.
func (h *Catalog) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypeCatalogImport, h.HandleImport)
	mux.HandleFunc(tasks.TypeCatalogChunk, h.HandleChunk)
}

// HandleImport runs an import: the run id is the payload's or the task's
// id, so a retried task re-attaches to its run (a split run is not split
// again) and waits for it. The report is the task's result.
func (h *Catalog) HandleImport(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.CatalogImportPayload](t)
	if err != nil {
		return err
	}
	id := p.RunID
	if id == "" {
		id, _ = asynq.GetTaskID(ctx)
	}
	if id == "" {
		return Permanent(errors.New("catalog import: no run id and no task id"))
	}
	queue, _ := asynq.GetQueueName(ctx)

	run, err := h.c.Begin(ctx, catalog.RunSpec{
		RunID: id, Source: p.Source, Format: p.Format, Supplier: p.Supplier,
		Currency: p.Currency, Full: p.Full, Force: p.Force,
	})
	if err != nil {
		return fmt.Errorf("catalog import: %w", err)
	}
	err = h.c.Split(ctx, run, func(ctx context.Context, runID string, n int) error {
		return h.enqueueChunk(ctx, queue, runID, n)
	})
	var fe *catalog.FeedError
	switch {
	case errors.As(err, &fe):
		rep, rerr := h.c.Report(ctx, id)
		if rerr == nil {
			_ = WriteResult(t, rep)
			h.mailReport(ctx, rep)
		}
		h.d.Logger.WarnContext(ctx, "catalog import failed", slog.String("run_id", id), slog.String("error", err.Error()))
		return Permanent(fmt.Errorf("catalog import %s: %w", id, err))
	case err != nil:
		return fmt.Errorf("catalog import %s: %w", id, err)
	}

	rep, _, err := h.c.Wait(ctx, id)
	if err != nil {
		return fmt.Errorf("catalog import %s: %w", id, err)
	}
	h.mailReport(ctx, rep)
	h.d.Logger.InfoContext(ctx, "catalog import done", slog.String("run_id", id), slog.String("status", rep.Status),
		slog.Int("rows", rep.Rows), slog.Int("rejected", rep.RejectedCount), slog.Int64("duration_ms", rep.DurationMS))
	return WriteResult(t, rep)
}

func (h *Catalog) enqueueChunk(ctx context.Context, queue, runID string, n int) error {
	opts := []asynq.Option{asynq.TaskID("catalog-chunk:" + runID + ":" + strconv.Itoa(n))}
	if queue != "" {
		opts = append(opts, asynq.Queue(queue))
	}
	t, err := tasks.NewCatalogChunkTask(tasks.CatalogChunkPayload{RunID: runID, Chunk: n}, opts...)
	if err != nil {
		return err
	}
	return h.enqueue(ctx, t)
}

// enqueue treats a task id already taken as done: an earlier attempt
// enqueued the same task.
func (h *Catalog) enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	if _, err := h.d.Enqueuer.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// CatalogChunkResult is the result of catalog:chunk.
type CatalogChunkResult struct {
	RunID       string `json:"run_id"`
	Chunk       int    `json:"chunk"`
	AlreadyDone bool   `json:"already_done,omitempty"`
	Created     int    `json:"created"`
	Updated     int    `json:"updated"`
	Unchanged   int    `json:"unchanged"`
	Warning     string `json:"warning,omitempty"`
}

// HandleChunk applies one chunk, enqueues its follow-ups (one price batch
// and one stock batch per chunk), marks it done and, when it was the last
// one, finishes the run. A chunk run again is applied once.
func (h *Catalog) HandleChunk(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.CatalogChunkPayload](t)
	if err != nil {
		return err
	}
	res, err := h.c.ApplyChunk(ctx, p.RunID, p.Chunk)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Permanent(err)
	case err != nil:
		return err
	}
	if !res.AlreadyDone {
		if err := h.followUps(ctx, res); err != nil {
			return err
		}
	}
	last, err := h.c.ChunkDone(ctx, res)
	if err != nil {
		return err
	}
	if last {
		rep, finalized, err := h.c.Finalize(ctx, p.RunID)
		if err != nil {
			return err // the import task finishes the run when this one cannot
		}
		if finalized {
			h.mailReport(ctx, rep)
		}
	}
	return WriteResult(t, CatalogChunkResult{
		RunID: p.RunID, Chunk: p.Chunk, AlreadyDone: res.AlreadyDone, Created: res.Created,
		Updated: res.Updated, Unchanged: res.Unchanged, Warning: res.Warning,
	})
}

// followUps enqueues a chunk's price updates and stock settings in
// batches. Task ids make a re-run chunk's enqueue a no-op while the first
// is kept; after that, the versions make a repeat harmless.
func (h *Catalog) followUps(ctx context.Context, res catalog.ChunkResult) error {
	base := res.RunID + ":" + strconv.Itoa(res.Chunk) + ":"
	for i := 0; i < len(res.Prices); i += tasks.MaxBatchItems {
		batch := res.Prices[i:min(i+tasks.MaxBatchItems, len(res.Prices))]
		t, err := tasks.NewPriceUpdateBatchTask(tasks.PriceUpdateBatchPayload{Updates: batch},
			asynq.TaskID("catalog-prices:"+base+strconv.Itoa(i)))
		if err != nil {
			return Permanent(fmt.Errorf("chunk %s%d: %w", base, i, err))
		}
		if err := h.enqueue(ctx, t); err != nil {
			return err
		}
	}
	for i := 0; i < len(res.Stock); i += tasks.MaxBatchItems {
		batch := res.Stock[i:min(i+tasks.MaxBatchItems, len(res.Stock))]
		t, err := tasks.NewInventorySetBatchTask(tasks.InventorySetBatchPayload{Items: batch},
			asynq.TaskID("catalog-stock:"+base+strconv.Itoa(i)))
		if err != nil {
			return Permanent(fmt.Errorf("chunk %s%d: %w", base, i, err))
		}
		if err := h.enqueue(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// reportMailData is the catalog-import-report template's data (docs/mail.md):
// run_id, source, rows_total, rows_imported, rows_rejected and errors (the
// first rejected rows and the warnings, as lines), plus the report's other
// counts for templates that want them.
func reportMailData(rep tasks.CatalogImportResult) map[string]any {
	lines := append([]string(nil), rep.Warnings...)
	for i, r := range rep.Rejected {
		if i == reportMailRejects {
			lines = append(lines, fmt.Sprintf("... %d more rejected rows in the run report", rep.RejectedCount-i))
			break
		}
		lines = append(lines, fmt.Sprintf("row %d, %s: %s", r.Row, r.Field, r.Reason))
	}
	data := map[string]any{
		"run_id": rep.RunID, "source": rep.Source, "rows_total": rep.Rows,
		"rows_imported": rep.Created + rep.Updated + rep.Unchanged, "rows_rejected": rep.RejectedCount,
		"supplier": rep.Supplier, "status": rep.Status, "created": rep.Created, "updated": rep.Updated,
		"unchanged": rep.Unchanged, "skipped": rep.Skipped, "deactivated": rep.Deactivated,
		"duration_ms": rep.DurationMS,
	}
	if len(lines) > 0 {
		data["errors"] = lines
	}
	return data
}

// mailReport enqueues the report mail to every operator, once per run and
// address (effect key catalog-import-report:<run_id>:<addr>). A failure is
// logged: the report is kept by run id either way.
func (h *Catalog) mailReport(ctx context.Context, rep tasks.CatalogImportResult) {
	rejected := rep.Rejected
	if len(rejected) > reportMailRejects {
		rejected = rejected[:reportMailRejects]
	}
	data := map[string]any{
		"run_id": rep.RunID, "supplier": rep.Supplier, "status": rep.Status, "rows": rep.Rows,
		"created": rep.Created, "updated": rep.Updated, "unchanged": rep.Unchanged,
		"skipped": rep.Skipped, "deactivated": rep.Deactivated, "rejected_count": rep.RejectedCount,
		"rejected": rejected, "warnings": rep.Warnings, "duration_ms": rep.DurationMS,
		// The template's keys (docs/mail.md).
		"source": rep.Supplier, "rows_total": rep.Rows, "rows_imported": rep.Created + rep.Updated + rep.Unchanged,
		"rows_rejected": rep.RejectedCount, "errors": rejectLines(rejected),
	}
	for _, to := range h.d.Operators {
		key := tasks.TemplateCatalogReport + ":" + rep.RunID + ":" + to
		t, err := tasks.NewMailSendTask(tasks.MailSendPayload{
			Template: tasks.TemplateCatalogReport, To: to, Data: data, EffectKey: key,
		}, asynq.TaskID(key))
		if err == nil {
			err = h.enqueue(ctx, t)
		}
		if err != nil {
			h.d.Logger.ErrorContext(ctx, "catalog report mail not enqueued", slog.String("run_id", rep.RunID),
				slog.String("error", err.Error()))
		}
	}
}

// rejectLines renders rejected rows for the report mail.
func rejectLines(rows []tasks.RowError) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, fmt.Sprintf("row %d %s: %s", r.Row, r.Field, r.Reason))
	}
	return out
}
