package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Materialised is the effective price a task stored for one SKU.
type Materialised struct {
	Quote Quote
	// Changed is true when it differs from the previously stored one.
	Changed bool
}

// casScript stores a materialised effective price when the SKU's data did
// not change since it was read (rev) and no later clock already stored one.
// A change also records its event as pending ('evp': old amount, old
// currency, seq) until the publisher clears it, so a run that stored the
// price but died before publishing leaves the event to its retry.
// KEYS[1] price hash; ARGV: rev, now ms, amount, currency, promotion id.
// Returns {status, old amount, old currency, seq}; status "repub" returns
// a pending event of the stored price.
var casScript = redis.NewScript(`
local h = KEYS[1]
local f = redis.call('HMGET', h, 'cur', 'rev', 'effat', 'eff', 'effcur', 'effpromo', 'evp')
if not f[1] then return {'gone'} end
if (f[2] or '0') ~= ARGV[1] then return {'conflict'} end
if tonumber(ARGV[2]) < tonumber(f[3] or '0') then return {'older'} end
local old, oldcur, oldpromo = f[4] or '', f[5] or '', f[6] or ''
if old == ARGV[3] and oldcur == ARGV[4] then
  if oldpromo ~= ARGV[5] then
    redis.call('HSET', h, 'effat', ARGV[2], 'effpromo', ARGV[5])
  else
    redis.call('HSET', h, 'effat', ARGV[2])
  end
  if f[7] then
    local a, b, seq = string.match(f[7], '^(.-)\n(.-)\n(%d+)$')
    if seq then return {'repub', a, b, tonumber(seq)} end
  end
  return {'same', old, oldcur}
end
local seq = redis.call('HINCRBY', h, 'effseq', 1)
redis.call('HSET', h, 'effat', ARGV[2], 'eff', ARGV[3], 'effcur', ARGV[4], 'effpromo', ARGV[5],
  'evp', old .. '\n' .. oldcur .. '\n' .. seq)
return {'changed', old, oldcur, seq}`)

// clearScript clears a published event's pending mark, unless a newer
// change replaced it. KEYS[1] price hash; ARGV[1] the mark.
var clearScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'evp') == ARGV[1] then redis.call('HDEL', KEYS[1], 'evp') end
return 0`)

// maxCASAttempts bounds re-reads of a SKU whose data keeps changing while
// it is materialised; the writer that changed it materialises it too.
const maxCASAttempts = 10

// snapshot is what one read of a SKU returns.
type snapshot struct {
	rec   Record
	terms []Term
	rev   string
	found bool
	// stored materialised values
	eff, effCur, effPromo string
}

// read loads the SKUs' records and terms in one round trip. The price hash
// is read before the terms, so a concurrent change shows up as a new rev.
func (p *Pricing) read(ctx context.Context, skus []string) ([]snapshot, error) {
	pipe := p.st.RDB.Pipeline()
	prices := make([]*redis.MapStringStringCmd, len(skus))
	terms := make([]*redis.MapStringStringCmd, len(skus))
	for i, sku := range skus {
		prices[i] = pipe.HGetAll(ctx, p.priceKey(sku))
		terms[i] = pipe.HGetAll(ctx, p.termsKey(sku))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read prices: %w", err)
	}
	out := make([]snapshot, len(skus))
	for i, sku := range skus {
		s, err := parseSnapshot(sku, prices[i].Val(), terms[i].Val())
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func parseSnapshot(sku string, h, th map[string]string) (snapshot, error) {
	s := snapshot{rev: h["rev"], eff: h["eff"], effCur: h["effcur"], effPromo: h["effpromo"]}
	if s.rev == "" {
		s.rev = "0"
	}
	if h["cur"] == "" {
		return s, nil
	}
	s.found = true
	r := &s.rec
	r.SKU, r.Currency, r.Source = sku, h["cur"], h["src"]
	var errs []error
	r.Base, errs = parseInt(h["base"], errs)
	r.Version, errs = parseInt(h["ver"], errs)
	if v, ok := h["sale"]; ok {
		var sale int64
		sale, errs = parseInt(v, errs)
		r.Sale = &sale
		r.SaleStartMS, errs = parseOptInt(h["ss"], errs)
		r.SaleEndMS, errs = parseOptInt(h["se"], errs)
	}
	ids := make([]string, 0, len(th))
	for id := range th {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var t Term
		if err := json.Unmarshal([]byte(th[id]), &t); err != nil {
			errs = append(errs, fmt.Errorf("term %s: %w", id, err))
			continue
		}
		s.terms = append(s.terms, t)
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("price record of sku %s: %w", sku, err)
	}
	return s, nil
}

func parseInt(v string, errs []error) (int64, []error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		errs = append(errs, err)
	}
	return n, errs
}

func parseOptInt(v string, errs []error) (int64, []error) {
	if v == "" {
		return 0, errs
	}
	return parseInt(v, errs)
}

// Materialise computes the effective prices of skus as of now, stores them
// and publishes an event for each one that changed. SKUs without a price
// are skipped. Safe to call again and concurrently: a store only lands when
// the SKU's data is unchanged since it was read, and never over one made
// with a later clock.
func (p *Pricing) Materialise(ctx context.Context, skus []string, now time.Time, reason string) (map[string]Materialised, error) {
	return p.materialise(ctx, dedupe(skus), nil, now, reason)
}

// materialise is Materialise for distinct SKUs, starting from snaps when
// the caller just read them (nil: read them first).
func (p *Pricing) materialise(ctx context.Context, todo []string, snaps []snapshot, now time.Time, reason string) (map[string]Materialised, error) {
	out := make(map[string]Materialised, len(todo))
	var events []Event
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == maxCASAttempts {
			return out, fmt.Errorf("materialise: %d SKUs kept changing, e.g. %s", len(todo), todo[0])
		}
		if snaps == nil {
			var err error
			if snaps, err = p.read(ctx, todo); err != nil {
				return out, err
			}
		}
		cmds := make([]*redis.Cmd, len(todo))
		quotes := make([]Quote, len(todo))
		found := 0
		for i := range todo {
			if snaps[i].found {
				quotes[i] = Compute(&snaps[i].rec, snaps[i].terms, now)
				found++
			}
		}
		if found == 0 {
			break
		}
		err := p.execScripts(ctx, casScript, func(pipe redis.Pipeliner) {
			for i := range todo {
				if !snaps[i].found {
					continue
				}
				q := quotes[i]
				cmds[i] = casScript.EvalSha(ctx, pipe, []string{p.priceKey(todo[i])},
					snaps[i].rev, now.UnixMilli(), q.Amount, q.Currency, q.PromotionID())
			}
		})
		if err != nil {
			return out, fmt.Errorf("materialise: %w", err)
		}
		var again []string
		for i, c := range cmds {
			if c == nil {
				continue
			}
			res, _ := c.Slice()
			switch res[0] {
			case "conflict":
				again = append(again, todo[i])
			case "same", "older":
				out[todo[i]] = Materialised{Quote: quotes[i]}
			case "changed", "repub":
				out[todo[i]] = Materialised{Quote: quotes[i], Changed: res[0] == "changed"}
				old, _ := res[1].(string)
				oldCur, _ := res[2].(string)
				e := newEvent(&snaps[i].rec, quotes[i], old, oldCur, reason, now)
				e.Seq, _ = res[3].(int64)
				e.mark = old + "\n" + oldCur + "\n" + strconv.FormatInt(e.Seq, 10)
				events = append(events, e)
			}
		}
		todo, snaps = again, nil
	}
	if err := p.publish(ctx, events); err != nil {
		return out, err
	}
	return out, nil
}

func dedupe(skus []string) []string {
	seen := make(map[string]bool, len(skus))
	out := make([]string, 0, len(skus))
	for _, s := range skus {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
