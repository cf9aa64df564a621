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
// Options.TransitionRetention. Running it again is harmless.
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

	for id := range promos {
		out, err := p.Recompute(ctx, id, now, ReasonSweep)
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
	pipe.ZRemRangeByScore(ctx, p.transitionsKey(), "-inf",
		"("+strconv.FormatInt(nowMS-p.opts.TransitionRetention.Milliseconds(), 10))
	if _, err := pipe.Exec(ctx); err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	return res, nil
}
