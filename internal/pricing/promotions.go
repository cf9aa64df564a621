package pricing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// PromotionOutcome is the result of an upsert, cancel or recompute.
type PromotionOutcome struct {
	ID string
	// Applied is false when the change was ignored: an upsert older than the
	// stored version, or for a cancelled promotion.
	Applied bool
	// State is "scheduled", "active", "ended", "cancelled" or "unknown".
	State string
	// Affected counts SKUs whose terms were attached, refreshed or detached.
	Affected int
	// Changed counts effective prices that changed (events published).
	Changed int
	// Transitions are the window bounds after now; the caller schedules a
	// promotions:transition task at each.
	Transitions []Transition
}

// Transition is one window bound of a promotion.
type Transition struct {
	At time.Time
	// Bound is "start" or "end".
	Bound string
}

// ErrPromotionBusy is returned when another recompute of the same promotion
// holds its lock for longer than Options.LockWait; the task is retried.
var ErrPromotionBusy = errors.New("promotion recompute in progress")

// upsertScript stores a promotion unless a newer version is stored or it is
// cancelled at a version not below this one. KEYS[1] promotion hash; ARGV:
// padded version, payload JSON, start ms, end ms.
var upsertScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'ver')
if cur then
  if redis.call('HGET', KEYS[1], 'x') == '1' and ARGV[1] <= cur then return 'cancelled' end
  if ARGV[1] < cur then return 'stale' end
end
redis.call('HSET', KEYS[1], 'ver', ARGV[1], 'p', ARGV[2], 's', ARGV[3], 'e', ARGV[4], 'x', '0')
return 'ok'`)

// cancelScript marks a promotion cancelled; an unknown one gets a tombstone
// so a create delivered after its cancel stays cancelled.
var cancelScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'ver', ARGV[1], 'x', '1')
  return 'tombstone'
end
if redis.call('HGET', KEYS[1], 'x') == '1' then return 'already' end
redis.call('HSET', KEYS[1], 'x', '1')
return 'ok'`)

// termScript attaches (ARGV[1] = term JSON) or detaches (ARGV[1] = "") a
// promotion's term on a SKU, bumps the SKU's rev when it changed, and
// returns the SKU's price and terms hashes as they are now, so the caller
// materialises from a consistent read without another round trip.
// KEYS[1] terms hash, KEYS[2] price hash; ARGV[2] promotion id.
var termScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[2])
local changed = true
if ARGV[1] == '' then
  if cur then redis.call('HDEL', KEYS[1], ARGV[2]) else changed = false end
elseif cur ~= ARGV[1] then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
else
  changed = false
end
if changed then redis.call('HINCRBY', KEYS[2], 'rev', 1) end
return {redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[1])}`)

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Upsert stores a promotion (payload must be valid) and recomputes its SKUs
// as of now. Running it again converges to the same data.
func (p *Pricing) Upsert(ctx context.Context, pl tasks.PromotionUpsertPayload, now time.Time) (PromotionOutcome, error) {
	start, end, err := pl.Window()
	if err != nil {
		return PromotionOutcome{}, fmt.Errorf("upsert promotion %s: %w", pl.ID, err)
	}
	data, err := json.Marshal(pl)
	if err != nil {
		return PromotionOutcome{}, fmt.Errorf("upsert promotion %s: %w", pl.ID, err)
	}
	res, err := upsertScript.Run(ctx, p.st.RDB, []string{p.promoKey(pl.ID)},
		padVersion(pl.Version), data, start.UnixMilli(), end.UnixMilli()).Text()
	if err != nil {
		return PromotionOutcome{}, fmt.Errorf("upsert promotion %s: %w", pl.ID, err)
	}
	// Recompute even when ignored: a retried task converges to the stored
	// promotion, whichever version that is.
	out, err := p.Recompute(ctx, pl.ID, now, ReasonPromotionUpsert)
	out.Applied = res == "ok"
	return out, err
}

// Cancel ends a promotion now and restores its SKUs' prices. Cancelling an
// unknown or cancelled promotion is not an error.
func (p *Pricing) Cancel(ctx context.Context, id string, now time.Time) (PromotionOutcome, error) {
	res, err := cancelScript.Run(ctx, p.st.RDB, []string{p.promoKey(id)}, padVersion(0)).Text()
	if err != nil {
		return PromotionOutcome{}, fmt.Errorf("cancel promotion %s: %w", id, err)
	}
	out, err := p.Recompute(ctx, id, now, ReasonPromotionCancel)
	out.Applied = res == "ok"
	return out, err
}

// storedPromotion is a promotion as kept in the store.
type storedPromotion struct {
	payload    *tasks.PromotionUpsertPayload
	startMS    int64
	endMS      int64
	cancelled  bool
	registered bool
}

func (p *Pricing) loadPromotion(ctx context.Context, id string) (storedPromotion, error) {
	h, err := p.st.RDB.HGetAll(ctx, p.promoKey(id)).Result()
	if err != nil {
		return storedPromotion{}, fmt.Errorf("load promotion %s: %w", id, err)
	}
	sp := storedPromotion{registered: len(h) > 0, cancelled: h["x"] == "1"}
	if h["p"] == "" {
		return sp, nil
	}
	var pl tasks.PromotionUpsertPayload
	if err := json.Unmarshal([]byte(h["p"]), &pl); err != nil {
		return sp, fmt.Errorf("load promotion %s: %w", id, err)
	}
	sp.payload = &pl
	sp.startMS, _ = strconv.ParseInt(h["s"], 10, 64)
	sp.endMS, _ = strconv.ParseInt(h["e"], 10, 64)
	return sp, nil
}

func (sp *storedPromotion) state(nowMS int64) string {
	switch {
	case !sp.registered:
		return "unknown"
	case sp.cancelled || sp.payload == nil:
		return "cancelled"
	case nowMS >= sp.endMS:
		return "ended"
	case nowMS >= sp.startMS:
		return "active"
	}
	return "scheduled"
}

// Recompute brings a promotion's SKUs in line with the stored promotion as
// of now, from current data: it resolves the target through the catalog
// indexes, attaches the promotion's term to every targeted SKU, detaches it
// from SKUs no longer targeted (all of them once the promotion is cancelled
// or ended), and materialises each touched SKU's effective price, chunk by
// chunk. Repeated or reordered calls converge.
func (p *Pricing) Recompute(ctx context.Context, id string, now time.Time, reason string) (PromotionOutcome, error) {
	out := PromotionOutcome{ID: id}
	unlock, err := p.lock(ctx, id)
	if err != nil {
		return out, err
	}
	defer unlock()

	sp, err := p.loadPromotion(ctx, id)
	if err != nil {
		return out, err
	}
	nowMS := now.UnixMilli()
	out.State = sp.state(nowMS)
	if !sp.registered {
		return out, nil
	}

	next := p.promoNextKey(id, randomToken())
	defer p.st.RDB.Del(context.WithoutCancel(ctx), next)
	var termJSON string
	if out.State == "scheduled" || out.State == "active" {
		term, err := TermFromPayload(sp.payload)
		if err != nil {
			return out, fmt.Errorf("recompute promotion %s: %w", id, err)
		}
		b, _ := json.Marshal(term)
		termJSON = string(b)
		if err := p.resolveTarget(ctx, sp.payload.Target, next); err != nil {
			return out, fmt.Errorf("recompute promotion %s: %w", id, err)
		}
	}

	if err := p.detachOthers(ctx, id, next, now, reason, &out); err != nil {
		return out, err
	}
	if termJSON != "" {
		if err := p.attachAll(ctx, id, next, termJSON, now, reason, &out); err != nil {
			return out, err
		}
	}
	if err := p.swapSKUs(ctx, id, next); err != nil {
		return out, err
	}

	if err := p.markLive(ctx, id, termJSON != "", sp.endMS); err != nil {
		return out, err
	}
	if termJSON != "" {
		if err := p.recordTransitions(ctx, id, sp.startMS, sp.endMS); err != nil {
			return out, err
		}
		for _, b := range []Transition{
			{At: time.UnixMilli(sp.startMS).UTC(), Bound: "start"},
			{At: time.UnixMilli(sp.endMS).UTC(), Bound: "end"},
		} {
			if b.At.UnixMilli() > nowMS {
				out.Transitions = append(out.Transitions, b)
			}
		}
	}
	return out, nil
}

// resolveTarget fills the set dst with the targeted SKUs. Index sets live
// in other cluster slots than dst, so they are scanned, not SUNIONSTOREd.
func (p *Pricing) resolveTarget(ctx context.Context, t tasks.Target, dst string) error {
	for i := 0; i < len(t.SKUs); i += p.opts.ChunkSize {
		chunk := t.SKUs[i:min(i+p.opts.ChunkSize, len(t.SKUs))]
		if err := p.st.RDB.SAdd(ctx, dst, toAny(chunk)...).Err(); err != nil {
			return fmt.Errorf("resolve target: %w", err)
		}
	}
	var keys []string
	for _, v := range t.Vendors {
		keys = append(keys, p.st.VendorIndexKey(v))
	}
	for _, v := range t.ProductTypes {
		keys = append(keys, p.st.TypeIndexKey(v))
	}
	for _, v := range t.Tags {
		keys = append(keys, p.st.TagIndexKey(v))
	}
	for _, k := range keys {
		err := p.scan(ctx, k, func(skus []string) error {
			return p.st.RDB.SAdd(ctx, dst, toAny(skus)...).Err()
		})
		if err != nil {
			return fmt.Errorf("resolve target %s: %w", k, err)
		}
	}
	return p.st.RDB.Expire(ctx, dst, time.Hour).Err()
}

// scan calls fn with chunks of a set's members.
func (p *Pricing) scan(ctx context.Context, key string, fn func([]string) error) error {
	var cursor uint64
	for {
		members, next, err := p.st.RDB.SScan(ctx, key, cursor, "", int64(p.opts.ChunkSize)).Result()
		if err != nil {
			return err
		}
		if len(members) > 0 {
			if err := fn(members); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// detachOthers removes the promotion's term from SKUs it is attached to
// that are not in next.
func (p *Pricing) detachOthers(ctx context.Context, id, next string, now time.Time, reason string, out *PromotionOutcome) error {
	err := p.scan(ctx, p.promoSKUsKey(id), func(skus []string) error {
		keep, err := p.st.RDB.SMIsMember(ctx, next, toAny(skus)...).Result()
		if err != nil {
			return err
		}
		var gone []string
		for i, k := range keep {
			if !k {
				gone = append(gone, skus[i])
			}
		}
		return p.setTerms(ctx, id, gone, "", now, reason, out)
	})
	if err != nil {
		return fmt.Errorf("detach promotion %s: %w", id, err)
	}
	return nil
}

// attachAll attaches the term to every SKU in next, Options.Parallel chunks
// at a time so building one chunk's pipeline overlaps Redis running another.
func (p *Pricing) attachAll(ctx context.Context, id, next, termJSON string, now time.Time, reason string, out *PromotionOutcome) error {
	chunks := make(chan []string)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range p.opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for skus := range chunks {
				var part PromotionOutcome
				err := p.setTerms(ctx, id, skus, termJSON, now, reason, &part)
				mu.Lock()
				out.Affected += part.Affected
				out.Changed += part.Changed
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	err := p.scan(ctx, next, func(skus []string) error {
		mu.Lock()
		failed := firstErr
		mu.Unlock()
		if failed != nil {
			return failed
		}
		chunks <- skus
		return nil
	})
	close(chunks)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return fmt.Errorf("attach promotion %s: %w", id, err)
	}
	return nil
}

// setTerms attaches (termJSON != "") or detaches the term on one chunk of
// SKUs, then materialises them.
func (p *Pricing) setTerms(ctx context.Context, id string, skus []string, termJSON string, now time.Time, reason string, out *PromotionOutcome) error {
	if len(skus) == 0 {
		return nil
	}
	skus = dedupe(skus)
	if termJSON != "" {
		// Track before attaching: after a crash the set still names every
		// SKU carrying the term, so the next recompute can detach it.
		if err := p.st.RDB.SAdd(ctx, p.promoSKUsKey(id), toAny(skus)...).Err(); err != nil {
			return err
		}
	}
	cmds := make([]*redis.Cmd, len(skus))
	err := p.execScripts(ctx, termScript, func(pipe redis.Pipeliner) {
		for i, sku := range skus {
			cmds[i] = termScript.EvalSha(ctx, pipe, []string{p.termsKey(sku), p.priceKey(sku)}, termJSON, id)
		}
	})
	if err != nil {
		return err
	}
	snaps := make([]snapshot, len(skus))
	for i, c := range cmds {
		res, _ := c.Slice()
		if len(res) != 2 {
			return fmt.Errorf("term script for sku %s: unexpected reply %v", skus[i], c.Val())
		}
		if snaps[i], err = parseSnapshot(skus[i], flatMap(res[0]), flatMap(res[1])); err != nil {
			return err
		}
	}
	ms, err := p.materialise(ctx, skus, snaps, now, reason)
	if err != nil {
		return err
	}
	out.Affected += len(skus)
	for _, m := range ms {
		if m.Changed {
			out.Changed++
		}
	}
	return nil
}

// swapSKUs makes next the promotion's attached set.
func (p *Pricing) swapSKUs(ctx context.Context, id, next string) error {
	n, err := p.st.RDB.Exists(ctx, next).Result()
	if err == nil {
		if n == 1 {
			err = p.st.RDB.Rename(ctx, next, p.promoSKUsKey(id)).Err()
		} else {
			err = p.st.RDB.Del(ctx, p.promoSKUsKey(id)).Err()
		}
	}
	if err != nil {
		return fmt.Errorf("store skus of promotion %s: %w", id, err)
	}
	return nil
}

func (p *Pricing) recordTransitions(ctx context.Context, id string, startMS, endMS int64) error {
	err := p.st.RDB.ZAdd(ctx, p.transitionsKey(),
		redis.Z{Score: float64(startMS), Member: "ps:" + id},
		redis.Z{Score: float64(endMS), Member: "pe:" + id}).Err()
	if err != nil {
		return fmt.Errorf("record transitions of promotion %s: %w", id, err)
	}
	return nil
}

// markLive keeps the set of scheduled and active promotions, which the
// sweep refreshes so SKUs added to the catalog after a recompute get the
// promotion too.
func (p *Pricing) markLive(ctx context.Context, id string, live bool, endMS int64) error {
	var err error
	if live {
		err = p.st.RDB.ZAdd(ctx, p.liveKey(), redis.Z{Score: float64(endMS), Member: id}).Err()
	} else {
		err = p.st.RDB.ZRem(ctx, p.liveKey(), id).Err()
	}
	if err != nil {
		return fmt.Errorf("mark promotion %s: %w", id, err)
	}
	return nil
}

// lock serialises recomputes of one promotion, so two runs never interleave
// their attach and detach steps.
func (p *Pricing) lock(ctx context.Context, id string) (func(), error) {
	key, token := p.promoLockKey(id), randomToken()
	deadline := time.Now().Add(p.opts.LockWait)
	for {
		ok, err := p.st.RDB.SetNX(ctx, key, token, 15*time.Minute).Result()
		if err != nil {
			return nil, fmt.Errorf("lock promotion %s: %w", id, err)
		}
		if ok {
			return func() {
				_ = unlockScript.Run(context.WithoutCancel(ctx), p.st.RDB, []string{key}, token).Err()
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock promotion %s: %w", id, ErrPromotionBusy)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// PromotionInfo is a stored promotion as entered, with its window in UTC.
type PromotionInfo struct {
	// Payload is the promotion as last upserted (times and zone as entered);
	// nil for a cancel tombstone.
	Payload  *tasks.PromotionUpsertPayload `json:"payload,omitempty"`
	StartsAt time.Time                     `json:"starts_at"`
	EndsAt   time.Time                     `json:"ends_at"`
	// State at the instant asked: scheduled, active, ended or cancelled.
	State string `json:"state"`
	// SKUs counts the SKUs its term is attached to.
	SKUs int64 `json:"skus"`
}

// Promotion returns a stored promotion; store.ErrNotFound when unknown.
func (p *Pricing) Promotion(ctx context.Context, id string, now time.Time) (PromotionInfo, error) {
	sp, err := p.loadPromotion(ctx, id)
	if err != nil {
		return PromotionInfo{}, err
	}
	if !sp.registered {
		return PromotionInfo{}, fmt.Errorf("promotion %s: %w", id, store.ErrNotFound)
	}
	n, err := p.st.RDB.SCard(ctx, p.promoSKUsKey(id)).Result()
	if err != nil {
		return PromotionInfo{}, fmt.Errorf("promotion %s: %w", id, err)
	}
	info := PromotionInfo{Payload: sp.payload, State: sp.state(now.UnixMilli()), SKUs: n}
	if sp.payload != nil {
		info.StartsAt, info.EndsAt = time.UnixMilli(sp.startMS).UTC(), time.UnixMilli(sp.endMS).UTC()
	}
	return info, nil
}

// flatMap turns a Lua HGETALL reply (field, value, ...) into a map.
func flatMap(v any) map[string]string {
	items, _ := v.([]any)
	m := make(map[string]string, len(items)/2)
	for i := 0; i+1 < len(items); i += 2 {
		k, _ := items[i].(string)
		val, _ := items[i+1].(string)
		m[k] = val
	}
	return m
}
