package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/tasks"
)

// claimScript lets one task finish a run: the run must be split with every
// chunk applied, or its finishing claimed so long ago that the claimer is
// taken for dead. KEYS: run hash, done set. ARGV: now (ms), stale (ms).
var claimScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'state', 'chunks', 'finalizing_ms')
if st[1] == 'chunked' then
  if redis.call('SCARD', KEYS[2]) < tonumber(st[2]) then return 0 end
elseif st[1] == 'finalizing' then
  if tonumber(ARGV[1]) - tonumber(st[3] or '0') < tonumber(ARGV[2]) then return 0 end
else
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'finalizing', 'finalizing_ms', ARGV[1])
return 1`)

// deactivateScript marks a product inactive if it is active and still the
// supplier's. KEYS[1] product hash. ARGV: supplier, now (ms).
var deactivateScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'supplier', 'active')
if v[1] ~= ARGV[1] or v[2] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'active', '0', 'updated_at', ARGV[2], 'run_outcome', 'd')
return 1`)

// Finalize finishes a run whose chunks are all applied (fan-in): on a full
// refresh it deactivates the supplier's products the feed no longer
// lists, within MaxDeactivateShare, and stores the report. It reports false
// when the run is not ready or another task is finishing it.
func (c *Catalog) Finalize(ctx context.Context, id string) (tasks.CatalogImportResult, bool, error) {
	var rep tasks.CatalogImportResult
	ok, err := claimScript.Run(ctx, c.st.RDB, []string{c.hashKey(id), c.doneKey(id)},
		c.Now().UnixMilli(), finalizeStale.Milliseconds()).Int()
	if err != nil {
		return rep, false, fmt.Errorf("run %s: claim fan-in: %w", id, err)
	}
	if ok == 0 {
		return rep, false, nil
	}

	h, err := c.st.RDB.HGetAll(ctx, c.hashKey(id)).Result()
	if err != nil {
		return rep, false, fmt.Errorf("run %s: load: %w", id, err)
	}
	warnings, err := c.st.RDB.LRange(ctx, c.warnKey(id), 0, -1).Result()
	if err != nil {
		return rep, false, fmt.Errorf("run %s: load warnings: %w", id, err)
	}
	rep = buildReport(id, h, warnings)

	switch {
	case h["full"] != "1":
	case h["incomplete"] != "" || len(warnings) > 0:
		rep.Warnings = append(rep.Warnings, "full refresh: no product deactivated because the feed was not read whole")
	default:
		n, why, err := c.deactivate(ctx, id, h["supplier"])
		if err != nil {
			return rep, false, err
		}
		rep.Deactivated = n
		if why != "" {
			rep.Warnings = append(rep.Warnings, why)
		}
	}
	if len(rep.Warnings) > 0 && rep.Status == StatusCompleted {
		rep.Status = StatusCompletedWithErrors
	}
	started, _ := strconv.ParseInt(h["started_ms"], 10, 64)
	if err := c.storeReport(ctx, id, started, &rep); err != nil {
		return rep, false, err
	}
	if err := c.saveValidators(ctx, h); err != nil {
		return rep, false, err
	}
	// Counted here, where one task per run wins the fan-in claim.
	metrics.RowsRejected.WithLabelValues(h["format"]).Add(float64(rep.RejectedCount))
	return rep, true, nil
}

func buildReport(id string, h map[string]string, warnings []string) tasks.CatalogImportResult {
	n := func(k string) int { v, _ := strconv.Atoi(h[k]); return v }
	rep := tasks.CatalogImportResult{
		RunID: id, Supplier: h["supplier"], Source: h["source"], Rows: n("rows"), Created: n("created"), Updated: n("updated"),
		Unchanged: n("unchanged"), Skipped: n("skipped"), RejectedCount: n("rejected"),
		Rejected: []tasks.RowError{},
	}
	if len(warnings) > 0 {
		rep.Warnings = warnings
	}
	if h["rejects"] != "" {
		_ = json.Unmarshal([]byte(h["rejects"]), &rep.Rejected)
	}
	sortRejects(rep.Rejected)
	if more := rep.RejectedCount - len(rep.Rejected); more > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d more rejected rows are not listed", more))
	}
	if h["incomplete"] != "" {
		rep.Warnings = append(rep.Warnings, h["incomplete"])
	}
	rep.Status = StatusCompleted
	if rep.RejectedCount > 0 || len(rep.Warnings) > 0 {
		rep.Status = StatusCompletedWithErrors
	}
	return rep
}

// deactivate marks the supplier's active products missing from the run's
// feed inactive, unless they are more than MaxDeactivateShare of the
// supplier's catalog: a truncated or mistaken feed must not empty a shop.
func (c *Catalog) deactivate(ctx context.Context, id, supplier string) (int, string, error) {
	missing, total, err := c.missing(ctx, id, supplier)
	if err != nil || len(missing) == 0 {
		return 0, "", err
	}
	if float64(len(missing)) > c.o.MaxDeactivateShare*float64(total) {
		return 0, fmt.Sprintf("full refresh: refused to deactivate %d of %d products of supplier %s "+
			"(%.1f%%, above the limit of %.1f%%): is the feed complete?", len(missing), total, supplier,
			100*float64(len(missing))/float64(total), 100*c.o.MaxDeactivateShare), nil
	}

	now := c.Now().UnixMilli()
	if err := deactivateScript.Load(ctx, c.st.RDB).Err(); err != nil {
		return 0, "", fmt.Errorf("load deactivate script: %w", err)
	}
	count := 0
	for start := 0; start < len(missing); start += 1000 {
		batch := missing[start:min(start+1000, len(missing))]
		pipe := c.st.RDB.Pipeline()
		cmds := make([]*redis.Cmd, len(batch))
		for i, sku := range batch {
			cmds[i] = deactivateScript.EvalSha(ctx, pipe, []string{c.st.ProductKey(sku)}, supplier, now)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return count, "", fmt.Errorf("deactivate: %w", err)
		}
		for _, cmd := range cmds {
			if v, _ := cmd.Int(); v == 1 {
				count++
			}
		}
	}
	return count, "", nil
}

// missing returns the supplier's active SKUs the run did not see, and the
// number of the supplier's active SKUs. Only the SKUs missing from the
// feed are read: every SKU in it is active now.
func (c *Catalog) missing(ctx context.Context, id, supplier string) ([]string, int, error) {
	rdb := c.st.RDB
	blob, err := rdb.Get(ctx, c.seenKey(id)).Bytes()
	if err != nil {
		return nil, 0, fmt.Errorf("load feed skus: %w", err)
	}
	seen := digestSet(blob)
	size, err := rdb.SCard(ctx, c.st.SupplierIndexKey(supplier)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("count supplier index: %w", err)
	}

	unseen := map[string]bool{} // a set: SSCAN may return a member twice
	var cursor uint64
	for {
		skus, next, err := rdb.SScan(ctx, c.st.SupplierIndexKey(supplier), cursor, "", 1000).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("scan supplier index: %w", err)
		}
		for _, s := range skus {
			if !seen.has(s) {
				unseen[s] = true
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}

	var missing, batch []string
	others := 0 // inactive, or moved to another supplier
	check := func() error {
		m, err := c.activeOf(ctx, supplier, batch)
		missing, others, batch = append(missing, m...), others+len(batch)-len(m), batch[:0]
		return err
	}
	for s := range unseen {
		if batch = append(batch, s); len(batch) == 1000 {
			if err := check(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := check(); err != nil {
		return nil, 0, err
	}
	return missing, int(size) - others, nil
}

// activeOf returns the SKUs of skus that are active and the supplier's.
func (c *Catalog) activeOf(ctx context.Context, supplier string, skus []string) ([]string, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	pipe := c.st.RDB.Pipeline()
	cmds := make([]*redis.SliceCmd, len(skus))
	for i, s := range skus {
		cmds[i] = pipe.HMGet(ctx, c.st.ProductKey(s), fSupplier, fActive)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("check supplier skus: %w", err)
	}
	var out []string
	for i, s := range skus {
		v := cmds[i].Val()
		if sup, _ := v[0].(string); sup != supplier {
			continue
		}
		if act, _ := v[1].(string); act == "1" {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *Catalog) saveValidators(ctx context.Context, h map[string]string) error {
	if h["etag"] == "" && h["last_modified"] == "" {
		return nil
	}
	k := c.feedKey(h["supplier"], h["source"])
	pipe := c.st.RDB.Pipeline()
	pipe.HSet(ctx, k, "etag", h["etag"], "last_modified", h["last_modified"])
	pipe.PExpire(ctx, k, c.st.Lifetimes.Runs)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("save feed validators: %w", err)
	}
	return nil
}

// Wait waits for a run to finish and returns its report; it finishes the
// run itself when every chunk is applied but no chunk task did (the last
// chunk was applied before the split ended, or its task died). finalized
// is true when this call finished it.
func (c *Catalog) Wait(ctx context.Context, id string) (rep tasks.CatalogImportResult, finalized bool, err error) {
	for {
		rep, finalized, err = c.Finalize(ctx, id)
		if err != nil || finalized {
			return rep, finalized, err
		}
		rep, err = c.Report(ctx, id)
		if err == nil {
			return rep, false, nil
		}
		if !isNotDone(err) {
			return rep, false, err
		}
		if err := sleep(ctx, c.o.PollInterval); err != nil {
			return rep, false, fmt.Errorf("run %s: wait: %w", id, err)
		}
	}
}
