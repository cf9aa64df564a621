package pricing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/tasks"
)

// Outcome is what became of a price update.
type Outcome string

// Outcomes of a price update.
const (
	// Applied: the update's version was the newest; it took effect.
	Applied Outcome = "applied"
	// Stale: a newer or equal version was already applied.
	Stale Outcome = "stale"
	// Superseded: a newer version of the SKU had been noted (within
	// Options.NoteLifetime) and is on its way; this one did no work.
	Superseded Outcome = "superseded"
)

// UpdateResult is the result of one price update.
type UpdateResult struct {
	SKU     string
	Version int64
	Outcome Outcome
	// Quote is the effective price after the update (zero unless Applied).
	Quote Quote
	// Changed is true when the effective price changed (an event was
	// published).
	Changed bool
}

// noteScript records the highest version seen for a SKU and when, unless
// it is already applied. KEYS[1] price hash; ARGV: padded version, now ms.
var noteScript = redis.NewScript(`
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver and ARGV[1] <= ver then return 0 end
local seen = redis.call('HGET', KEYS[1], 'seen')
if (not seen) or ARGV[1] > seen then redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'seenat', ARGV[2]) end
return 1`)

// applyScript applies an update when its version is the newest applied and
// no newer one was noted within the note lifetime. KEYS[1] price hash; ARGV:
// padded version, currency, base, sale ("" for none), sale start ms, sale
// end ms ("" for open), source, now ms, note lifetime ms.
var applyScript = redis.NewScript(`
local h = KEYS[1]
local ver = redis.call('HGET', h, 'ver')
if ver == ARGV[1] then return 'duplicate' end
if ver and ARGV[1] < ver then return 'stale' end
local seen = redis.call('HGET', h, 'seen')
if seen and ARGV[1] < seen then
  local at = tonumber(redis.call('HGET', h, 'seenat') or '0')
  if tonumber(ARGV[8]) - at < tonumber(ARGV[9]) then return 'superseded' end
else
  redis.call('HSET', h, 'seen', ARGV[1])
end
redis.call('HSET', h, 'ver', ARGV[1], 'cur', ARGV[2], 'base', ARGV[3], 'src', ARGV[7], 'upd', ARGV[8])
redis.call('HDEL', h, 'sale', 'ss', 'se')
if ARGV[4] ~= '' then
  redis.call('HSET', h, 'sale', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', h, 'ss', ARGV[5]) end
  if ARGV[6] ~= '' then redis.call('HSET', h, 'se', ARGV[6]) end
end
redis.call('HINCRBY', h, 'rev', 1)
return 'applied'`)

// SKUVersion names one version of one SKU's price.
type SKUVersion struct {
	SKU     string
	Version int64
}

// NoteVersions records at now that updates with these versions are on
// their way, so older updates of the same SKUs do no work when they run. The
// price handlers note every update before applying it; a producer with
// access to the store may also call it after its update task was enqueued.
// A note holds back older updates for Options.NoteLifetime at most, so a
// noted update that never arrives (its task archived) costs no correctness.
func (p *Pricing) NoteVersions(ctx context.Context, vs []SKUVersion, now time.Time) error {
	err := p.execScripts(ctx, noteScript, func(pipe redis.Pipeliner) {
		for _, v := range vs {
			noteScript.EvalSha(ctx, pipe, []string{p.priceKey(v.SKU)}, padVersion(v.Version), now.UnixMilli())
		}
	})
	if err != nil {
		return fmt.Errorf("note versions: %w", err)
	}
	return nil
}

// Apply applies one price update; see ApplyBatch.
func (p *Pricing) Apply(ctx context.Context, u tasks.PriceUpdatePayload, now time.Time) (UpdateResult, error) {
	rs, err := p.ApplyBatch(ctx, []tasks.PriceUpdatePayload{u}, now)
	if err != nil {
		return UpdateResult{}, err
	}
	return rs[0], nil
}

// ApplyBatch applies each update as if it came alone: notes every version,
// applies the newest of each SKU atomically, then materialises the changed
// SKUs' effective prices as of now and publishes their changes. Updates must
// be valid (tasks.PriceUpdatePayload.Validate).
func (p *Pricing) ApplyBatch(ctx context.Context, us []tasks.PriceUpdatePayload, now time.Time) ([]UpdateResult, error) {
	vs := make([]SKUVersion, len(us))
	for i, u := range us {
		vs[i] = SKUVersion{SKU: u.SKU, Version: u.Version}
	}
	if err := p.NoteVersions(ctx, vs, now); err != nil {
		return nil, err
	}

	cmds := make([]*redis.Cmd, len(us))
	err := p.execScripts(ctx, applyScript, func(pipe redis.Pipeliner) {
		for i := range us {
			args := append(applyArgs(&us[i], now), p.opts.NoteLifetime.Milliseconds())
			cmds[i] = applyScript.EvalSha(ctx, pipe, []string{p.priceKey(us[i].SKU)}, args...)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("apply prices: %w", err)
	}

	results := make([]UpdateResult, len(us))
	var applied []string
	tr := p.st.RDB.Pipeline()
	for i, c := range cmds {
		u := &us[i]
		res, _ := c.Text()
		results[i] = UpdateResult{SKU: u.SKU, Version: u.Version, Outcome: Outcome(res)}
		switch results[i].Outcome {
		case Applied:
			p.recordSaleTransitions(ctx, tr, u)
		case "duplicate":
			// The applied version again, e.g. a retry after the first
			// attempt stored the price but failed before materialising it:
			// stale for the caller, but finish the materialisation (a no-op
			// when it already happened).
			results[i].Outcome = Stale
		default:
			continue
		}
		applied = append(applied, u.SKU)
	}
	if tr.Len() > 0 {
		if _, err := tr.Exec(ctx); err != nil {
			return nil, fmt.Errorf("record sale transitions: %w", err)
		}
	}

	ms, err := p.Materialise(ctx, applied, now, ReasonPriceUpdate)
	if err != nil {
		return nil, err
	}
	for i := range results {
		if m, ok := ms[results[i].SKU]; ok && results[i].Outcome == Applied {
			results[i].Quote, results[i].Changed = m.Quote, m.Changed
		}
	}
	return results, nil
}

func applyArgs(u *tasks.PriceUpdatePayload, now time.Time) []any {
	var sale, ss, se string
	if u.SaleAmount != nil {
		sale = strconv.FormatInt(*u.SaleAmount, 10)
		ss = rfc3339MS(u.SaleStartsAt)
		se = rfc3339MS(u.SaleEndsAt)
	}
	return []any{padVersion(u.Version), u.Currency, u.Amount, sale, ss, se, u.Source, now.UnixMilli()}
}

// rfc3339MS turns a validated RFC 3339 instant into Unix ms; "" stays "".
func rfc3339MS(v string) string {
	if v == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func (p *Pricing) recordSaleTransitions(ctx context.Context, pipe redis.Pipeliner, u *tasks.PriceUpdatePayload) {
	if u.SaleAmount == nil {
		return
	}
	for kind, v := range map[string]string{"ss:": u.SaleStartsAt, "se:": u.SaleEndsAt} {
		if ms := rfc3339MS(v); ms != "" {
			score, _ := strconv.ParseFloat(ms, 64)
			pipe.ZAdd(ctx, p.transitionsKey(), redis.Z{Score: score, Member: kind + u.SKU})
		}
	}
}
