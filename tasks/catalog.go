package tasks

import (
	"net/url"
	"slices"
	"time"

	"github.com/hibiken/asynq"
)

// TypeCatalogImport refreshes a supplier's catalog from a feed; see
// CatalogImportPayload. The feed is fetched by the worker, never carried.
const TypeCatalogImport = "catalog:import"

// Feed formats accepted by catalog:import.
const (
	FormatShopifyCSV  = "shopify-csv"
	FormatMerchantTSV = "merchant-tsv"
	FormatMerchantXML = "merchant-xml"
	FormatJSONL       = "jsonl"
)

// FeedFormats lists the accepted feed formats.
var FeedFormats = []string{FormatShopifyCSV, FormatMerchantTSV, FormatMerchantXML, FormatJSONL}

// CatalogImportPayload asks for one import run of a supplier feed.
type CatalogImportPayload struct {
	// Source is a local path or an http(s) URL.
	Source string `json:"source"`
	// Format is one of FeedFormats.
	Format string `json:"format"`
	// Supplier names the feed's owner; products are scoped to it.
	Supplier string `json:"supplier"`
	// Full marks products of this supplier missing from the feed inactive.
	Full bool `json:"full"`
	// Currency for feeds whose prices carry none (Shopify CSV). Default: shop's.
	Currency string `json:"currency,omitempty"`
	// RunID names the run; derived from the task id when empty.
	RunID string `json:"run_id,omitempty"`
	// Force processes the feed even when it is unchanged since the last run.
	Force bool `json:"force,omitempty"`
}

// Validate checks the payload.
func (p *CatalogImportPayload) Validate() error {
	var c checker
	switch {
	case p.Source == "":
		c.add("source", "is required")
	case len(p.Source) > 4096:
		c.add("source", "is longer than 4096 bytes")
	default:
		if u, err := url.Parse(p.Source); err == nil && u.Scheme != "" && len(u.Scheme) > 1 &&
			u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file" {
			c.add("source", "scheme %q is not allowed: use a path, http or https", u.Scheme)
		}
	}
	if !slices.Contains(FeedFormats, p.Format) {
		c.add("format", "%q is not one of %v", p.Format, FeedFormats)
	}
	c.id("supplier", p.Supplier)
	if p.Currency != "" {
		c.currency("currency", p.Currency)
	}
	return c.err()
}

// NewCatalogImportTask validates p and returns a catalog:import task.
func NewCatalogImportTask(p CatalogImportPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeCatalogImport, &p, opts)
}

// RowError reports one rejected feed row.
type RowError struct {
	// Row is the line where the record starts (header = 1) for CSV/TSV, or the
	// 1-based item index for XML and JSON Lines.
	Row    int    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	SKU    string `json:"sku,omitempty"`
}

// CatalogImportResult is the report of one import run.
type CatalogImportResult struct {
	RunID    string `json:"run_id"`
	Supplier string `json:"supplier"`
	// Source is the feed the run read (path or URL).
	Source      string     `json:"source,omitempty"`
	Status      string     `json:"status"` // completed, completed_with_errors, unchanged, failed
	Rows        int        `json:"rows"`
	Created     int        `json:"created"`
	Updated     int        `json:"updated"`
	Unchanged   int        `json:"unchanged"`
	Skipped     int        `json:"skipped"`
	Deactivated int        `json:"deactivated"`
	Rejected    []RowError `json:"rejected"`
	// RejectedCount is the number of rejected rows; Rejected lists the
	// first of them (up to the worker's configured limit).
	RejectedCount int      `json:"rejected_count"`
	Warnings      []string `json:"warnings,omitempty"`
	DurationMS    int64    `json:"duration_ms"`
}

// TypeCatalogChunk applies one chunk of an import run; catalog:import
// enqueues one per chunk. The chunk's products wait in Redis: the payload
// carries only the run id and the chunk number.
const TypeCatalogChunk = "catalog:chunk"

// CatalogChunkPayload names one chunk of a run.
type CatalogChunkPayload struct {
	RunID string `json:"run_id"`
	// Chunk is the chunk's number, from 1.
	Chunk int `json:"chunk"`
}

// Validate checks the payload.
func (p *CatalogChunkPayload) Validate() error {
	var c checker
	c.id("run_id", p.RunID)
	c.positive("chunk", int64(p.Chunk), 1<<31)
	return c.err()
}

// NewCatalogChunkTask validates p and returns a catalog:chunk task.
func NewCatalogChunkTask(p CatalogChunkPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeCatalogChunk, &p, opts)
}

func catalogSpecs() []Spec {
	return []Spec{{
		Type: TypeCatalogImport, Queue: QueueLow, MaxRetry: 5, Timeout: 30 * time.Minute,
		Validate: validator[CatalogImportPayload](),
	}, {
		Type: TypeCatalogChunk, Queue: QueueLow, MaxRetry: 10, Timeout: 5 * time.Minute, Internal: true,
		Validate: validator[CatalogChunkPayload](),
	}}
}
