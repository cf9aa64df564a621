// Package pricing keeps base prices, sale prices and promotions, and
// computes effective prices from them.
//
// Correctness comes from the data, not from the queue:
//
//   - a price update applies only when its version is above the applied one
//     (one Lua script per SKU); a version below one already noted by another
//     update of the same SKU does no work (burst collapse);
//   - each SKU's record holds everything the price rule needs (base, sale
//     window, the terms of the promotions targeting it), so a reader
//     computes the effective price at read time, right to the millisecond,
//     whenever transition tasks run;
//   - tasks (price updates, promotion changes, scheduled transitions, the
//     sweep) only materialise the effective price as of their clock and
//     publish an event when it changed.
//
// Key layout (prefix "shopq:"):
//
//	{prefix}{sku:<SKU>}:price        hash: cur, base, ver, seen, seenat, sale,
//	                                 ss, se, src, upd, rev, eff, effcur,
//	                                 effpromo, effat, effseq, evp
//	{prefix}{sku:<SKU>}:promos       hash: promotion id -> Term JSON
//	{prefix}{promo:<ID>}             hash: p (payload JSON), ver, s, e, x (cancelled)
//	{prefix}{promo:<ID>}:skus        set of SKUs the promotion's terms are attached to
//	{prefix}{promo:<ID>}:lock        recompute lock
//	{prefix}pricing:transitions      zset: "ps:<id>", "pe:<id>", "ss:<sku>",
//	                                 "se:<sku>" scored by the bound's Unix ms
//	{prefix}pricing:sweep            last sweep's instant (Unix ms)
//	{prefix}pricing:live             zset: scheduled and active promotion ids by end
//	{prefix}pricing:refresh          last refresh of the live promotions (Unix ms)
//	{prefix}events                   stream of effective price changes
package pricing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
)

// Reasons carried by price change events.
const (
	ReasonPriceUpdate     = "price_update"
	ReasonPromotionUpsert = "promotion_upsert"
	ReasonPromotionCancel = "promotion_cancel"
	ReasonPromotionStart  = "promotion_start"
	ReasonPromotionEnd    = "promotion_end"
	ReasonSweep           = "sweep"
	ReasonRefresh         = "refresh"
)

// Defaults of Options.
const (
	DefaultChunkSize           = 500
	DefaultParallel            = 4
	DefaultEventsMaxLen        = 100_000
	DefaultSweepLookback       = 24 * time.Hour
	DefaultSweepOverlap        = 30 * time.Second
	DefaultTransitionRetention = 7 * 24 * time.Hour
	DefaultLockWait            = 30 * time.Second
	DefaultNoteLifetime        = 10 * time.Minute
	DefaultRefreshInterval     = 15 * time.Minute
)

// Options tune pricing; zero values mean the defaults.
type Options struct {
	// ChunkSize is how many SKUs a promotion recompute handles per round
	// trip. Default: 500.
	ChunkSize int
	// Parallel is how many chunks a promotion recompute has in flight.
	// Default: 4.
	Parallel int
	// EventsMaxLen bounds the events stream (approximately, XADD MAXLEN ~).
	// Default: 100000.
	EventsMaxLen int64
	// SweepLookback is how far back the first sweep looks for transitions.
	// Default: 24h.
	SweepLookback time.Duration
	// SweepOverlap is how far each sweep reaches back before the previous
	// sweep's instant, for transitions recorded late. Default: 30s.
	SweepOverlap time.Duration
	// TransitionRetention keeps past transitions for the sweep. Default: 7 days.
	TransitionRetention time.Duration
	// NoteLifetime is how long a noted newer version makes older updates of
	// its SKU do no work; after it, they apply as usual (the noted one then
	// applies over them when it arrives). Default: 10m.
	NoteLifetime time.Duration
	// RefreshInterval is how often the sweep recomputes every scheduled and
	// active promotion from the catalog indexes, so SKUs indexed after a
	// promotion's last recompute get it. Default: 15m.
	RefreshInterval time.Duration
	// LockWait is how long a promotion recompute waits for another one of
	// the same promotion before failing (and being retried). Default: 30s.
	LockWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.EventsMaxLen <= 0 {
		o.EventsMaxLen = DefaultEventsMaxLen
	}
	if o.SweepLookback <= 0 {
		o.SweepLookback = DefaultSweepLookback
	}
	if o.SweepOverlap <= 0 {
		o.SweepOverlap = DefaultSweepOverlap
	}
	if o.TransitionRetention <= 0 {
		o.TransitionRetention = DefaultTransitionRetention
	}
	if o.NoteLifetime <= 0 {
		o.NoteLifetime = DefaultNoteLifetime
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.LockWait <= 0 {
		o.LockWait = DefaultLockWait
	}
	return o
}

// Pricing is the price and promotion store.
type Pricing struct {
	st   *store.Store
	opts Options
}

// New returns a Pricing on st.
func New(st *store.Store, opts Options) *Pricing {
	return &Pricing{st: st, opts: opts.withDefaults()}
}

// Store returns the underlying store.
func (p *Pricing) Store() *store.Store { return p.st }

func (p *Pricing) priceKey(sku string) string { return p.st.TagKey("sku", sku, "price") }
func (p *Pricing) termsKey(sku string) string { return p.st.TagKey("sku", sku, "promos") }
func (p *Pricing) promoKey(id string) string  { return p.st.TagKey("promo", id) }
func (p *Pricing) promoSKUsKey(id string) string {
	return p.st.TagKey("promo", id, "skus")
}
func (p *Pricing) promoNextKey(id, token string) string {
	return p.st.TagKey("promo", id, "next", token)
}
func (p *Pricing) promoLockKey(id string) string { return p.st.TagKey("promo", id, "lock") }
func (p *Pricing) transitionsKey() string        { return p.st.Key("pricing", "transitions") }
func (p *Pricing) sweepKey() string              { return p.st.Key("pricing", "sweep") }
func (p *Pricing) refreshKey() string            { return p.st.Key("pricing", "refresh") }
func (p *Pricing) liveKey() string               { return p.st.Key("pricing", "live") }

// EventsKey is the stream of effective price changes.
func (p *Pricing) EventsKey() string { return p.st.Key("events") }

// padVersion makes versions compare as strings in Lua, whose numbers are
// doubles and would round versions above 2^53 (nanosecond timestamps).
func padVersion(v int64) string { return fmt.Sprintf("%020d", v) }

// execScripts runs a pipeline of one script's calls built by fill. Scripts
// in a pipeline run as EVALSHA without go-redis's EVAL fallback, so on
// NOSCRIPT (first use, or after a restart or SCRIPT FLUSH) the script is
// loaded and the pipeline rebuilt and run again; nothing in it ran.
func (p *Pricing) execScripts(ctx context.Context, s *redis.Script, fill func(pipe redis.Pipeliner)) error {
	pipe := p.st.RDB.Pipeline()
	fill(pipe)
	_, err := pipe.Exec(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
		return err
	}
	if err := s.Load(ctx, p.st.RDB).Err(); err != nil {
		return err
	}
	pipe = p.st.RDB.Pipeline()
	fill(pipe)
	_, err = pipe.Exec(ctx)
	return err
}
