package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// upsertScript writes one product unless its content hash is unchanged.
// It returns {outcome} or, for an update, {outcome, old vendor, type, tags,
// supplier} so stale index entries can be removed. outcome is "u"
// (unchanged) or c|m (created|modified) followed by 1/0 for "price
// changed" and "quantity changed". A product this run already wrote (its
// chunk is being run again after a crash) returns that first outcome, so
// counts and follow-ups come out the same.
//
// KEYS[1] product hash. ARGV: content hash, run id, price signature,
// quantity ("" when the feed has none), now (ms), field/value pairs.
var upsertScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'content_hash', 'active', 'run', 'run_outcome',
  'price_sig', 'quantity', 'vendor', 'product_type', 'tags', 'supplier')
if cur[1] == ARGV[1] and cur[2] == '1' then
  if cur[3] == ARGV[2] and cur[4] then return {cur[4]} end
  return {'u'}
end
local o = 'c'
if cur[1] then o = 'm' end
if cur[5] ~= ARGV[3] then o = o .. '1' else o = o .. '0' end
if ARGV[4] ~= '' and cur[6] ~= ARGV[4] then o = o .. '1' else o = o .. '0' end
redis.call('HSET', KEYS[1], 'content_hash', ARGV[1], 'active', '1', 'run', ARGV[2],
  'run_outcome', o, 'price_sig', ARGV[3], 'updated_at', ARGV[5], unpack(ARGV, 6))
if cur[1] then return {o, cur[7] or '', cur[8] or '', cur[9] or '', cur[10] or ''} end
return {o}`)

// doneScript marks a chunk applied and adds its counts, once. It returns
// -1 when the chunk was done before, 1 when it was the run's last, else 0.
// KEYS: run hash, done set, warnings list, chunk.
// ARGV: chunk, created, updated, unchanged, warning, lifetime (ms).
var doneScript = redis.NewScript(`
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -1 end
redis.call('HINCRBY', KEYS[1], 'created', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'updated', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'unchanged', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('DEL', KEYS[4])
local st = redis.call('HMGET', KEYS[1], 'state', 'chunks')
if st[1] == 'chunked' and redis.call('SCARD', KEYS[2]) >= tonumber(st[2]) then return 1 end
return 0`)

// ChunkResult is what applying one chunk did and what it asks to follow.
type ChunkResult struct {
	RunID    string
	Chunk    int
	Supplier string
	// AlreadyDone is true when the chunk had been applied before; nothing
	// else is set then.
	AlreadyDone bool

	Created, Updated, Unchanged int
	// Prices are the price updates for created products and changed prices.
	Prices []tasks.PriceUpdatePayload
	// Stock are the stock settings for changed quantities.
	Stock []tasks.InventorySetPayload
	// Warning tells why the chunk's products were not applied (it expired).
	Warning string
}

// ApplyChunk upserts chunk n of a run. It does not mark the chunk done:
// the caller enqueues the follow-ups first and then calls ChunkDone, so a
// crash in between runs the chunk again with the same outcome.
func (c *Catalog) ApplyChunk(ctx context.Context, runID string, n int) (ChunkResult, error) {
	res := ChunkResult{RunID: runID, Chunk: n}
	pipe := c.st.RDB.Pipeline()
	meta := pipe.HMGet(ctx, c.hashKey(runID), "supplier", "version")
	done := pipe.SIsMember(ctx, c.doneKey(runID), strconv.Itoa(n))
	data := pipe.Get(ctx, c.chunkKey(runID, n))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return res, fmt.Errorf("chunk %s/%d: load: %w", runID, n, err)
	}
	supplier, _ := meta.Val()[0].(string)
	if supplier == "" {
		return res, fmt.Errorf("chunk %s/%d: run %w", runID, n, store.ErrNotFound)
	}
	res.Supplier = supplier
	if done.Val() {
		res.AlreadyDone = true
		return res, nil
	}
	if errors.Is(data.Err(), redis.Nil) {
		res.Warning = fmt.Sprintf("chunk %d expired before it was applied: its products were not imported", n)
		return res, nil
	}

	products, err := decodeChunk(data.Val())
	if err != nil {
		return res, fmt.Errorf("chunk %s/%d: %w", runID, n, err)
	}
	version := atoi(meta.Val()[1])
	if err := c.upsert(ctx, runID, version, products, &res); err != nil {
		return res, fmt.Errorf("chunk %s/%d: %w", runID, n, err)
	}
	return res, nil
}

func decodeChunk(data string) ([]Product, error) {
	dec := json.NewDecoder(strings.NewReader(data))
	var out []Product
	for dec.More() {
		var p Product
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("decode chunk: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// upsert writes the products in one pipeline of scripts, then fixes the
// index sets of the products created or changed in a second one.
func (c *Catalog) upsert(ctx context.Context, runID string, version int64, ps []Product, res *ChunkResult) error {
	rdb := c.st.RDB
	if err := upsertScript.Load(ctx, rdb).Err(); err != nil {
		return fmt.Errorf("load upsert script: %w", err)
	}
	now := strconv.FormatInt(c.Now().UnixMilli(), 10)
	pipe := rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ps))
	for i := range ps {
		p := &ps[i]
		qty := ""
		if p.HasQuantity {
			qty = strconv.FormatInt(p.Quantity, 10)
		}
		fields := p.fields()
		args := make([]any, 0, 5+len(fields))
		args = append(args, p.ContentHash(), runID, p.priceSig(), qty, now)
		for _, f := range fields {
			args = append(args, f)
		}
		cmds[i] = upsertScript.EvalSha(ctx, pipe, []string{c.st.ProductKey(p.SKU)}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("upsert products: %w", err)
	}

	idx := indexUpdate{add: map[string][]any{}, rem: map[string][]any{}}
	for i, cmd := range cmds {
		out, err := cmd.StringSlice()
		if err != nil || len(out) == 0 || out[0] == "" {
			return fmt.Errorf("upsert %s: unexpected reply %v: %w", ps[i].SKU, out, err)
		}
		c.account(&ps[i], out, version, runID, res, &idx)
	}
	return c.writeIndexes(ctx, &idx)
}

// account counts one upsert's outcome and plans its follow-ups and index
// changes.
func (c *Catalog) account(p *Product, out []string, version int64, runID string, res *ChunkResult, idx *indexUpdate) {
	o := out[0]
	if o == "u" {
		res.Unchanged++
		return
	}
	if o[0] == 'c' {
		res.Created++
	} else {
		res.Updated++
	}
	if len(o) >= 2 && o[1] == '1' {
		res.Prices = append(res.Prices, priceUpdate(p, version, runID))
	}
	if len(o) >= 3 && o[2] == '1' && p.HasQuantity {
		res.Stock = append(res.Stock, tasks.InventorySetPayload{SKU: p.SKU, OnHand: p.Quantity, Version: version})
	}
	c.planIndexes(p, out, idx)
}

func priceUpdate(p *Product, version int64, runID string) tasks.PriceUpdatePayload {
	u := tasks.PriceUpdatePayload{
		SKU: p.SKU, Amount: p.Price, Currency: p.Currency, Version: version, Source: "catalog-run:" + runID,
	}
	if p.HasSale {
		sale := p.Sale
		u.SaleAmount = &sale
		u.SaleStartsAt, u.SaleEndsAt = formatTime(p.SaleStart), formatTime(p.SaleEnd)
	}
	return u
}

// indexUpdate groups index changes per set, so a chunk costs a few
// commands whatever its size.
type indexUpdate struct {
	add, rem map[string][]any
}

func (c *Catalog) planIndexes(p *Product, out []string, idx *indexUpdate) {
	keys := c.indexKeys(p.Supplier, p.Vendor, p.ProductType, p.Tags)
	for _, k := range keys {
		idx.add[k] = append(idx.add[k], p.SKU)
	}
	if len(out) < 5 {
		return
	}
	var oldTags []string
	if out[3] != "" {
		oldTags = strings.Split(out[3], ",")
	}
	for _, k := range c.indexKeys(out[4], out[1], out[2], oldTags) {
		if !contains(keys, k) {
			idx.rem[k] = append(idx.rem[k], p.SKU)
		}
	}
}

func (c *Catalog) indexKeys(supplier, vendor, typ string, tags []string) []string {
	keys := []string{c.st.AllSKUsKey()}
	if supplier != "" {
		keys = append(keys, c.st.SupplierIndexKey(supplier))
	}
	if store.IndexValue(vendor) != "" {
		keys = append(keys, c.st.VendorIndexKey(vendor))
	}
	if store.IndexValue(typ) != "" {
		keys = append(keys, c.st.TypeIndexKey(typ))
	}
	for _, t := range tags {
		if store.IndexValue(t) != "" {
			keys = append(keys, c.st.TagIndexKey(t))
		}
	}
	return keys
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

func (c *Catalog) writeIndexes(ctx context.Context, idx *indexUpdate) error {
	if len(idx.add) == 0 && len(idx.rem) == 0 {
		return nil
	}
	pipe := c.st.RDB.Pipeline()
	for k, m := range idx.rem {
		pipe.SRem(ctx, k, m...)
	}
	for k, m := range idx.add {
		pipe.SAdd(ctx, k, m...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("update indexes: %w", err)
	}
	return nil
}

// ChunkDone marks a chunk applied and adds its counts to the run, once. It
// reports whether this was the run's last chunk: the caller then calls
// Finalize (fan-in).
func (c *Catalog) ChunkDone(ctx context.Context, res ChunkResult) (bool, error) {
	if res.AlreadyDone {
		return false, nil
	}
	id := res.RunID
	v, err := doneScript.Run(ctx, c.st.RDB,
		[]string{c.hashKey(id), c.doneKey(id), c.warnKey(id), c.chunkKey(id, res.Chunk)},
		res.Chunk, res.Created, res.Updated, res.Unchanged, res.Warning, c.st.Lifetimes.Runs.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("chunk %s/%d: mark done: %w", id, res.Chunk, err)
	}
	return v == 1, nil
}
