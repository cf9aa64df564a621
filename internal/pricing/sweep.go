package pricing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SweepResult reports what one sweep repaired.
type SweepResult struct {
	Promotions int
	SKUs       int
	Changed    int
}

// Sweep materialises every transition (promotion bound, sale window bound)
// that fell between the previous sweep (less Options.SweepOverlap; the first
// sweep looks back Options.SweepLookback) and now, in case no transition
// task handled it, and forgets transitions older than
// Options.TransitionRetention. Every Options.RefreshInterval it also
// recomputes every scheduled and active promotion, so SKUs the catalog
// indexed since get them. Running it again is harmless.
func (p *Pricing) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	nowMS := now.UnixMilli()
	from := nowMS - p.opts.SweepLookback.Milliseconds()
	last, err := p.st.RDB.Get(ctx, p.sweepKey()).Int64()
	switch {
	case err == nil:
		from = max(last-p.opts.SweepOverlap.Milliseconds(), from)
	case !errors.Is(err, redis.Nil):
		return res, fmt.Errorf("sweep: %w", err)
	}

	members, err := p.st.RDB.ZRangeByScore(ctx, p.transitionsKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from, 10), Max: strconv.FormatInt(nowMS, 10),
	}).Result()
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	var skus []string
	promos := map[string]bool{}
	for _, m := range members {
		kind, name, _ := strings.Cut(m, ":")
		switch kind {
		case "ps", "pe":
			promos[name] = true
		case "ss", "se":
			skus = append(skus, name)
		}
	}

	reason := ReasonSweep
	refresh, err := p.refreshDue(ctx, now)
	if err != nil {
		return res, err
	}
	if refresh {
		reason = ReasonRefresh
		live, err := p.st.RDB.ZRange(ctx, p.liveKey(), 0, -1).Result()
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		for _, id := range live {
			promos[id] = true
		}
	}
	for id := range promos {
		out, err := p.Recompute(ctx, id, now, reason)
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		res.Promotions++
		res.Changed += out.Changed
	}
	skus = dedupe(skus)
	for i := 0; i < len(skus); i += p.opts.ChunkSize {
		ms, err := p.Materialise(ctx, skus[i:min(i+p.opts.ChunkSize, len(skus))], now, ReasonSweep)
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		for _, m := range ms {
			if m.Changed {
				res.Changed++
			}
		}
	}
	res.SKUs = len(skus)

	pipe := p.st.RDB.Pipeline()
	pipe.Set(ctx, p.sweepKey(), nowMS, 0)
	if refresh {
		pipe.Set(ctx, p.refreshKey(), nowMS, 0)
	}
	pipe.ZRemRangeByScore(ctx, p.transitionsKey(), "-inf",
		"("+strconv.FormatInt(nowMS-p.opts.TransitionRetention.Milliseconds(), 10))
	if _, err := pipe.Exec(ctx); err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	return res, nil
}

// refreshDue reports whether Options.RefreshInterval has passed since the
// last refresh of the live promotions (or none happened yet).
func (p *Pricing) refreshDue(ctx context.Context, now time.Time) (bool, error) {
	last, err := p.st.RDB.Get(ctx, p.refreshKey()).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("sweep: %w", err)
	}
	return now.UnixMilli()-last >= p.opts.RefreshInterval.Milliseconds(), nil
}
