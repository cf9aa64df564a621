package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/tasks"
)

// Prices handles prices:update and prices:update-batch.
type Prices struct {
	d Deps
	p *pricing.Pricing
}

// NewPrices returns the price family on d.Store.
func NewPrices(d Deps, opts pricing.Options) *Prices {
	return &Prices{d: d, p: pricing.New(d.Store, opts)}
}

// Pricing returns the family's price store (for GET /api/v1/prices/{sku}).
func (h *Prices) Pricing() *pricing.Pricing { return h.p }

// Register adds the price task types to mux.
func (h *Prices) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypePriceUpdate, h.HandleUpdate)
	mux.HandleFunc(tasks.TypePriceUpdateBatch, h.HandleUpdateBatch)
}

// HandleUpdate applies one price update if its version is the newest. A
// stale or superseded update is a success whose result says so.
func (h *Prices) HandleUpdate(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.PriceUpdatePayload](t)
	if err != nil {
		return err
	}

	r, err := h.p.Apply(ctx, p, h.d.now())
	if err != nil {
		return fmt.Errorf("update price %s: %w", p.SKU, err)
	}
	h.count(r)
	return WriteResult(t, priceResult(r))
}

// HandleUpdateBatch applies each update of a batch as if it came alone.
func (h *Prices) HandleUpdateBatch(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.PriceUpdateBatchPayload](t)
	if err != nil {
		return err
	}

	rs, err := h.p.ApplyBatch(ctx, p.Updates, h.d.now())
	if err != nil {
		return fmt.Errorf("update price batch: %w", err)
	}
	res := tasks.PriceUpdateBatchResult{Items: len(rs)}
	for _, r := range rs {
		h.count(r)
		switch r.Outcome {
		case pricing.Applied:
			res.Applied++
		case pricing.Stale:
			res.Stale++
		case pricing.Superseded:
			res.Superseded++
		}
		if r.Changed {
			res.Changed++
		}
	}
	return WriteResult(t, res)
}

func (h *Prices) count(r pricing.UpdateResult) {
	if r.Outcome == pricing.Stale {
		metrics.StalePricesDropped.Inc()
		if h.d.Logger != nil {
			h.d.Logger.Debug("stale price dropped", slog.String("sku", r.SKU), slog.Int64("version", r.Version))
		}
	}
}

func priceResult(r pricing.UpdateResult) tasks.PriceUpdateResult {
	return tasks.PriceUpdateResult{
		SKU: r.SKU, Applied: r.Outcome == pricing.Applied, Stale: r.Outcome == pricing.Stale,
		Superseded: r.Outcome == pricing.Superseded, Effective: r.Quote.Amount, Version: r.Version,
	}
}

// AggregatePriceUpdates is an asynq GroupAggregatorFunc for producers that
// enqueue prices:update (or prices:update-batch) tasks with asynq.Group: it
// merges a group into one prices:update-batch task, keeping only the
// highest version of each SKU (the others would be stale or superseded
// anyway). Malformed items are dropped here, as their own task would have
// been archived; an aggregator cannot report errors (hibiken/asynq#887).
//
// Note: asynq releases grouped tasks only when the server's config has a
// GroupAggregator; without one they stay "aggregating" forever
// (hibiken/asynq#529). Keep GroupMaxSize at most tasks.MaxBatchItems.
func AggregatePriceUpdates(_ string, ts []*asynq.Task) *asynq.Task {
	latest := map[string]tasks.PriceUpdatePayload{}
	var order []string
	add := func(u tasks.PriceUpdatePayload) {
		cur, seen := latest[u.SKU]
		if !seen {
			order = append(order, u.SKU)
		}
		if !seen || u.Version > cur.Version {
			latest[u.SKU] = u
		}
	}
	for _, t := range ts {
		switch t.Type() {
		case tasks.TypePriceUpdate:
			if u, err := tasks.Decode[tasks.PriceUpdatePayload](t.Payload()); err == nil {
				add(u)
			}
		case tasks.TypePriceUpdateBatch:
			if b, err := tasks.Decode[tasks.PriceUpdateBatchPayload](t.Payload()); err == nil {
				for _, u := range b.Updates {
					add(u)
				}
			}
		}
	}
	p := tasks.PriceUpdateBatchPayload{Updates: make([]tasks.PriceUpdatePayload, 0, len(order))}
	for _, sku := range order {
		p.Updates = append(p.Updates, latest[sku])
	}
	t, err := tasks.NewPriceUpdateBatchTask(p)
	if err != nil {
		// Empty (every item malformed) or over the batch limit: hand the
		// handler the raw batch, which archives it with the reason.
		data, _ := json.Marshal(p)
		return asynq.NewTask(tasks.TypePriceUpdateBatch, data)
	}
	return t
}
