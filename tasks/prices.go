package tasks

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypePriceUpdate sets a SKU's base price if its version is newer than the
// applied one; see PriceUpdatePayload.
const TypePriceUpdate = "prices:update"

// PriceUpdatePayload is one base price change.
type PriceUpdatePayload struct {
	SKU string `json:"sku"`
	// Amount in minor units of Currency (cents for EUR).
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Version orders updates of one SKU: the source's timestamp or sequence
	// number. Only a version above the applied one takes effect.
	Version int64 `json:"version"`
	// Source names where the price came from (feed run, merchandiser).
	Source string `json:"source,omitempty"`
	// SaleAmount is an optional sale price from the source (a feed's sale
	// price, or Shopify's price when its compare-at price is higher; the
	// compare-at price is then Amount). It applies within the optional
	// window [SaleStartsAt, SaleEndsAt), RFC 3339 instants.
	SaleAmount   *int64 `json:"sale_amount,omitempty"`
	SaleStartsAt string `json:"sale_starts_at,omitempty"`
	SaleEndsAt   string `json:"sale_ends_at,omitempty"`
}

// Validate checks the payload.
func (p *PriceUpdatePayload) Validate() error {
	var c checker
	c.id("sku", p.SKU)
	c.nonNegative("amount", p.Amount, MaxAmount)
	c.currency("currency", p.Currency)
	c.positive("version", p.Version, 1<<62)
	if p.SaleAmount != nil {
		c.nonNegative("sale_amount", *p.SaleAmount, MaxAmount)
	}
	var start, end time.Time
	var errS, errE error
	if p.SaleStartsAt != "" {
		if start, errS = time.Parse(time.RFC3339, p.SaleStartsAt); errS != nil {
			c.add("sale_starts_at", "%q is not RFC 3339", p.SaleStartsAt)
		}
	}
	if p.SaleEndsAt != "" {
		if end, errE = time.Parse(time.RFC3339, p.SaleEndsAt); errE != nil {
			c.add("sale_ends_at", "%q is not RFC 3339", p.SaleEndsAt)
		}
	}
	if p.SaleStartsAt != "" && p.SaleEndsAt != "" && errS == nil && errE == nil && !end.After(start) {
		c.add("sale_ends_at", "must be after sale_starts_at")
	}
	return c.err()
}

// TypePriceUpdateBatch applies many price updates in one task: catalog runs
// send one per feed chunk instead of one task per row.
const TypePriceUpdateBatch = "prices:update-batch"

// MaxBatchItems bounds the items of one batch task.
const MaxBatchItems = 1000

// PriceUpdateBatchPayload is a batch of independent price updates; each is
// applied as if it came alone (version check per SKU).
type PriceUpdateBatchPayload struct {
	Updates []PriceUpdatePayload `json:"updates"`
}

// Validate checks the payload.
func (p *PriceUpdateBatchPayload) Validate() error {
	var c checker
	if len(p.Updates) == 0 || len(p.Updates) > MaxBatchItems {
		c.add("updates", "must hold 1 to %d items, got %d", MaxBatchItems, len(p.Updates))
	}
	for i := range p.Updates {
		if err := p.Updates[i].Validate(); err != nil {
			c.add(fmt.Sprintf("updates[%d]", i), "%v", err)
		}
	}
	return c.err()
}

// NewPriceUpdateBatchTask validates p and returns a prices:update-batch task.
func NewPriceUpdateBatchTask(p PriceUpdateBatchPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePriceUpdateBatch, &p, opts)
}

// NewPriceUpdateTask validates p and returns a prices:update task.
func NewPriceUpdateTask(p PriceUpdatePayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePriceUpdate, &p, opts)
}

// PriceUpdateResult tells whether an update took effect.
type PriceUpdateResult struct {
	SKU     string `json:"sku"`
	Applied bool   `json:"applied"`
	// Stale is true when a newer or equal version was already applied.
	Stale bool `json:"stale"`
	// Superseded is true when a newer update for the SKU was already waiting.
	Superseded bool  `json:"superseded,omitempty"`
	Effective  int64 `json:"effective,omitempty"`
	Version    int64 `json:"version"`
}

// PriceUpdateBatchResult counts the outcomes of a batch's items.
type PriceUpdateBatchResult struct {
	Items      int `json:"items"`
	Applied    int `json:"applied"`
	Stale      int `json:"stale"`
	Superseded int `json:"superseded"`
	// Changed counts effective prices that changed (events published).
	Changed int `json:"changed"`
}

func priceSpecs() []Spec {
	return []Spec{{
		Type: TypePriceUpdate, Queue: QueueDefault, MaxRetry: 25, Timeout: 30 * time.Second,
		Validate: validator[PriceUpdatePayload](),
	}, {
		Type: TypePriceUpdateBatch, Queue: QueueDefault, MaxRetry: 25, Timeout: 2 * time.Minute, Internal: true,
		Validate: validator[PriceUpdateBatchPayload](),
	}}
}
