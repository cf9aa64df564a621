package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

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

// upsert writes the products that changed, in two pipelines: one reads
// every product's stored state (content hash, bookkeeping, indexed
// fields), the other writes the changed products and their index sets.
// Unchanged products cost one HMGET; no script runs per row.
//
// A product this run wrote already (its chunk runs again after a crash)
// keeps the outcome recorded then (run, run_outcome), so counts and
// follow-ups come out the same. Two runs writing one SKU at the same
// moment may both count it; the stored product is the later write.
func (c *Catalog) upsert(ctx context.Context, runID string, version int64, ps []Product, res *ChunkResult) error {
	pipe := c.st.RDB.Pipeline()
	reads := make([]*redis.SliceCmd, len(ps))
	for i := range ps {
		reads[i] = pipe.HMGet(ctx, c.st.ProductKey(ps[i].SKU), fHash, fActive, fRun, fOutcome,
			fPriceSig, fQuantity, fVendor, fType, fTags, fSupplier)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read products: %w", err)
	}

	now := strconv.FormatInt(c.Now().UnixMilli(), 10)
	idx := indexUpdate{add: map[string][]any{}, rem: map[string][]any{}, keys: map[string]string{}}
	pipe = c.st.RDB.Pipeline()
	for i := range ps {
		p := &ps[i]
		cur := stored(reads[i].Val())
		fields := p.fields()
		hash := hashFields(fields)
		if cur.hash == hash && cur.active {
			if cur.run == runID && cur.outcome != "" && cur.outcome != "d" {
				c.account(p, cur.outcome, cur, version, runID, res, &idx)
			} else {
				res.Unchanged++
			}
			continue
		}
		o := "c"
		if cur.hash != "" {
			o = "m"
		}
		o += flag(cur.priceSig != p.priceSig()) + flag(p.HasQuantity && cur.quantity != strconv.FormatInt(p.Quantity, 10))
		writeProduct(ctx, pipe, c.st.ProductKey(p.SKU), p, fields, hash, runID, o, now, cur.hash != "")
		c.account(p, o, cur, version, runID, res, &idx)
	}
	idx.queue(ctx, pipe)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("write products: %w", err)
	}
	return nil
}

// storedState is what upsert reads of a stored product.
type storedState struct {
	hash, run, outcome, priceSig, quantity, vendor, typ, tags, supplier string
	active                                                              bool
}

func stored(v []any) storedState {
	s := func(i int) string { x, _ := v[i].(string); return x }
	return storedState{
		hash: s(0), active: s(1) == "1", run: s(2), outcome: s(3), priceSig: s(4), quantity: s(5),
		vendor: s(6), typ: s(7), tags: s(8), supplier: s(9),
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// writeProduct queues the writes of one product: its non-empty fields and
// bookkeeping, and on an update the removal of fields now empty.
func writeProduct(ctx context.Context, pipe redis.Pipeliner, key string, p *Product, fields []string,
	hash, runID, o, now string, exists bool,
) {
	args := make([]any, 0, 12+len(fields))
	args = append(args, fHash, hash, fActive, "1", fRun, runID, fOutcome, o, fPriceSig, p.priceSig(), fUpdatedAt, now)
	var empty []string
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] != "" {
			args = append(args, fields[i], fields[i+1])
		} else if exists {
			empty = append(empty, fields[i])
		}
	}
	pipe.HSet(ctx, key, args...)
	if len(empty) > 0 {
		pipe.HDel(ctx, key, empty...)
	}
}

// account counts one upsert's outcome o ("u", or c|m then 1/0 for price
// changed, 1/0 for quantity changed) and plans its follow-ups and index
// changes.
func (c *Catalog) account(p *Product, o string, cur storedState, version int64, runID string, res *ChunkResult, idx *indexUpdate) {
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
	c.planIndexes(p, cur, idx)
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
	keys     map[string]string // "v" / "t" / "g" + value -> index key, per chunk
}

func (c *Catalog) planIndexes(p *Product, cur storedState, idx *indexUpdate) {
	keys := c.indexKeys(idx, p.Supplier, p.Vendor, p.ProductType, p.Tags)
	for _, k := range keys {
		idx.add[k] = append(idx.add[k], p.SKU)
	}
	if cur.hash == "" {
		return
	}
	var oldTags []string
	if cur.tags != "" {
		oldTags = strings.Split(cur.tags, ",")
	}
	for _, k := range c.indexKeys(idx, cur.supplier, cur.vendor, cur.typ, oldTags) {
		if !contains(keys, k) {
			idx.rem[k] = append(idx.rem[k], p.SKU)
		}
	}
}

func (c *Catalog) indexKeys(idx *indexUpdate, supplier, vendor, typ string, tags []string) []string {
	keys := make([]string, 0, 4+len(tags))
	keys = append(keys, idx.key("a", "", func(string) string { return c.st.AllSKUsKey() }))
	if supplier != "" {
		keys = append(keys, idx.key("s", supplier, c.st.SupplierIndexKey))
	}
	if vendor != "" {
		keys = append(keys, idx.key("v", vendor, c.st.VendorIndexKey))
	}
	if typ != "" {
		keys = append(keys, idx.key("t", typ, c.st.TypeIndexKey))
	}
	for _, t := range tags {
		keys = append(keys, idx.key("g", t, c.st.TagIndexKey))
	}
	out := keys[:0]
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// key returns the index key of a value, built once per chunk; "" when the
// value normalises to nothing.
func (idx *indexUpdate) key(kind, v string, build func(string) string) string {
	ck := kind + v
	if k, ok := idx.keys[ck]; ok {
		return k
	}
	k := ""
	if kind == "a" || kind == "s" || store.IndexValue(v) != "" {
		k = build(v)
	}
	idx.keys[ck] = k
	return k
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// queue adds the index changes to pipe.
func (idx *indexUpdate) queue(ctx context.Context, pipe redis.Pipeliner) {
	for k, m := range idx.rem {
		pipe.SRem(ctx, k, m...)
	}
	for k, m := range idx.add {
		pipe.SAdd(ctx, k, m...)
	}
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
