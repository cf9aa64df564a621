package catalog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Run states, kept in the run hash.
const (
	stateParsing    = "parsing"
	stateChunked    = "chunked"
	stateFinalizing = "finalizing"
	stateDone       = "done"
)

// Report statuses (tasks.CatalogImportResult.Status).
const (
	StatusCompleted           = "completed"
	StatusCompletedWithErrors = "completed_with_errors"
	StatusUnchanged           = "unchanged"
	StatusFailed              = "failed"
)

// ErrRunNotDone is returned by Report for a run still in progress.
var ErrRunNotDone = errors.New("run not done")

// finalizeStale is how long a claimed fan-in may go unfinished before
// another task takes it over (its claimer died).
const finalizeStale = 2 * time.Minute

// RunSpec describes one import run.
type RunSpec struct {
	RunID    string
	Source   string
	Format   string
	Supplier string
	Currency string
	Full     bool
	Force    bool
}

// Run is an import run as stored.
type Run struct {
	Spec  RunSpec
	State string
	// Version orders this run's price and stock follow-ups after those of
	// earlier runs: the run's start in microseconds.
	Version int64
}

// FeedError is a feed that cannot be imported, now or on a retry (too
// large, refused, unreadable header); the run is recorded as failed.
type FeedError struct{ Err error }

func (e *FeedError) Error() string { return "feed: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FeedError) Unwrap() error { return e.Err }

// ChunkFunc enqueues the task of chunk n of a run.
type ChunkFunc func(ctx context.Context, runID string, n int) error

func (c *Catalog) runKey(id string, parts ...string) string { return c.st.TagKey("run", id, parts...) }
func (c *Catalog) hashKey(id string) string                 { return c.runKey(id, "run") }
func (c *Catalog) chunkKey(id string, n int) string         { return c.runKey(id, "chunk", strconv.Itoa(n)) }
func (c *Catalog) doneKey(id string) string                 { return c.runKey(id, "done") }
func (c *Catalog) warnKey(id string) string                 { return c.runKey(id, "warnings") }
func (c *Catalog) seenKey(id string) string                 { return c.runKey(id, "seen") }

func (c *Catalog) feedKey(supplier, source string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(source))
	return c.st.Key("catalog", "feed", supplier, strconv.FormatUint(h.Sum64(), 36))
}

var beginScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'parsing', 'supplier', ARGV[1], 'format', ARGV[2],
    'full', ARGV[3], 'currency', ARGV[4], 'version', ARGV[5], 'started_ms', ARGV[6],
    'source', ARGV[7], 'force', ARGV[9])
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
return redis.call('HMGET', KEYS[1], 'state', 'version', 'supplier', 'format', 'full', 'currency', 'source', 'force')`)

// Begin creates the run of spec, or returns it as stored when it exists: a
// retried import task re-attaches to its run instead of starting over.
func (c *Catalog) Begin(ctx context.Context, spec RunSpec) (Run, error) {
	if spec.Currency == "" {
		spec.Currency = c.o.DefaultCurrency
	}
	now := c.Now()
	v, err := beginScript.Run(ctx, c.st.RDB, []string{c.hashKey(spec.RunID)},
		spec.Supplier, spec.Format, boolStr(spec.Full), spec.Currency, now.UnixMicro(),
		now.UnixMilli(), spec.Source, c.st.Lifetimes.Runs.Milliseconds(), boolStr(spec.Force)).Slice()
	if err != nil {
		return Run{}, fmt.Errorf("begin run %s: %w", spec.RunID, err)
	}
	s := func(i int) string { x, _ := v[i].(string); return x }
	run := Run{State: s(0), Spec: RunSpec{
		RunID: spec.RunID, Supplier: s(2), Format: s(3), Full: s(4) == "1", Currency: s(5), Source: s(6), Force: s(7) == "1",
	}}
	run.Version, _ = strconv.ParseInt(s(1), 10, 64)
	return run, nil
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// splitState is what Split learns while reading the feed.
type splitState struct {
	rows, skipped, rejected, chunks int
	rejects                         []tasks.RowError
	seen                            map[uint64]int32 // SKU digest -> first row
	incomplete                      string
	buf                             []byte
	inBuf                           int
	rejectedSKUs                    []uint64 // digests of SKUs on rejected rows
	last                            int
}

// Split fetches the run's feed, validates every row and writes the valid
// products as chunks, calling enqueue for each. A run already split is left
// alone. A feed not modified since the last run finishes the run as
// unchanged; a feed that cannot be imported finishes it as failed and
// returns a *FeedError; a transient fetch error is returned for a retry.
func (c *Catalog) Split(ctx context.Context, run Run, enqueue ChunkFunc) error {
	if run.State != stateParsing {
		return nil
	}
	var prev Validators
	if !run.Spec.Force {
		prev = c.loadValidators(ctx, run.Spec)
	}
	feed, err := Fetch(ctx, run.Spec.Source, prev, FetchOptions{
		ConnectTimeout: c.o.ConnectTimeout, ReadTimeout: c.o.ReadTimeout,
		MaxBytes: c.o.MaxFeedBytes, WorkDir: c.o.WorkDir,
	})
	if err != nil {
		if IsTransientFetch(err) {
			return fmt.Errorf("fetch feed: %w", err)
		}
		return c.fail(ctx, run, err)
	}
	defer func() { _ = feed.Close() }()
	if feed.NotModified {
		return c.finishEarly(ctx, run, StatusUnchanged, "feed not modified since the last run (conditional GET); nothing imported")
	}

	body, err := feed.Open()
	if err != nil {
		return c.fail(ctx, run, err)
	}
	defer func() { _ = body.Close() }()
	rd, err := NewReader(run.Spec.Format, body, ParseOptions{Supplier: run.Spec.Supplier, Currency: run.Spec.Currency})
	if err != nil {
		return c.fail(ctx, run, err)
	}

	s := &splitState{seen: map[uint64]int32{}}
	if err := c.readFeed(ctx, run, rd, s, enqueue); err != nil {
		return err
	}
	return c.markChunked(ctx, run, s, feed.Validators)
}

func (c *Catalog) readFeed(ctx context.Context, run Run, rd Reader, s *splitState, enqueue ChunkFunc) error {
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrFeedTooLarge) || ctx.Err() != nil {
				return c.fail(ctx, run, err)
			}
			s.incomplete = fmt.Sprintf("feed unreadable after row %d (%v): the rest was not imported", s.lastRow(), err)
			break
		}
		s.rows++
		switch {
		case rec.Skipped:
			s.skipped++
		case rec.Reject != nil:
			c.addReject(s, *rec.Reject)
		default:
			if first, dup := s.firstRow(rec.Product.SKU, rec.Row); dup {
				c.addReject(s, tasks.RowError{Row: rec.Row, Field: skuField(run.Spec.Format), SKU: rec.Product.SKU,
					Reason: fmt.Sprintf("duplicates the SKU of row %d", first)})
				continue
			}
			if s.inBuf == 0 {
				s.buf = append(s.buf[:0], chunkVersion)
			}
			s.buf = appendProduct(s.buf, &rec.Product)
			s.inBuf++
			if s.inBuf >= c.o.ChunkSize || len(s.buf) >= c.o.ChunkMaxBytes {
				if err := c.flush(ctx, run, s, enqueue); err != nil {
					return err
				}
			}
		}
		s.last = rec.Row
	}
	return c.flush(ctx, run, s, enqueue)
}

func (s *splitState) lastRow() int { return s.last }

// firstRow records sku at row; it reports the first row of a SKU seen
// before. SKUs are kept as 64-bit digests, 12 bytes each, so a 1,000,000
// row feed needs about 40 MB for this.
func (s *splitState) firstRow(sku string, row int) (int, bool) {
	k := skuDigest(sku)
	if first, ok := s.seen[k]; ok {
		return int(first), true
	}
	s.seen[k] = int32(row)
	return 0, false
}

func (c *Catalog) addReject(s *splitState, e tasks.RowError) {
	s.rejected++
	if len(s.rejects) < c.o.MaxReportedRejects {
		s.rejects = append(s.rejects, e)
	}
	if e.SKU != "" {
		// Still in the feed, only invalid now: a full refresh keeps it.
		s.rejectedSKUs = append(s.rejectedSKUs, skuDigest(e.SKU))
	}
}

// flush writes the buffered products as the next chunk and enqueues it,
// after waiting until fewer than MaxPendingChunks chunks wait in Redis.
func (c *Catalog) flush(ctx context.Context, run Run, s *splitState, enqueue ChunkFunc) error {
	if s.inBuf == 0 {
		return nil
	}
	id, rdb := run.Spec.RunID, c.st.RDB

	s.chunks++
	n := s.chunks
	done, err := c.waitForRoom(ctx, id, n)
	if err != nil {
		return err
	}
	if !done { // a chunk applied by an earlier attempt of this run stays applied
		pipe := rdb.Pipeline()
		pipe.Set(ctx, c.chunkKey(id, n), s.buf, c.st.Lifetimes.Chunks)
		pipe.HSet(ctx, c.hashKey(id), "rows_read", s.rows, "chunks_written", n)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("run %s: write chunk %d: %w", id, n, err)
		}
		if err := enqueue(ctx, id, n); err != nil {
			return fmt.Errorf("run %s: enqueue chunk %d: %w", id, n, err)
		}
	}
	s.buf = s.buf[:0]
	s.inBuf = 0
	return nil
}

// waitForRoom blocks while MaxPendingChunks chunks wait; it reports whether
// chunk n is already applied.
func (c *Catalog) waitForRoom(ctx context.Context, id string, n int) (bool, error) {
	for {
		pipe := c.st.RDB.Pipeline()
		card := pipe.SCard(ctx, c.doneKey(id))
		isDone := pipe.SIsMember(ctx, c.doneKey(id), strconv.Itoa(n))
		if _, err := pipe.Exec(ctx); err != nil {
			return false, fmt.Errorf("run %s: chunk progress: %w", id, err)
		}
		if isDone.Val() {
			return true, nil
		}
		if int64(n-1)-card.Val() < int64(c.o.MaxPendingChunks) {
			return false, nil
		}
		if err := sleep(ctx, c.o.PollInterval); err != nil {
			return false, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Catalog) markChunked(ctx context.Context, run Run, s *splitState, val Validators) error {
	rejects, err := json.Marshal(s.rejects)
	if err != nil {
		return fmt.Errorf("encode rejects: %w", err)
	}
	id := run.Spec.RunID
	pipe := c.st.RDB.TxPipeline()
	if run.Spec.Full {
		pipe.Set(ctx, c.seenKey(id), encodeDigests(s), c.st.Lifetimes.Runs)
	}
	pipe.HSet(ctx, c.hashKey(id), "state", stateChunked, "chunks", s.chunks, "rows", s.rows,
		"rows_read", s.rows, "skipped", s.skipped, "rejected", s.rejected, "rejects", rejects,
		"incomplete", s.incomplete, "etag", val.ETag, "last_modified", val.LastModified)
	pipe.PExpire(ctx, c.hashKey(id), c.st.Lifetimes.Runs)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("run %s: mark split: %w", id, err)
	}
	return nil
}

// fail finishes a run as failed and returns err as a *FeedError.
func (c *Catalog) fail(ctx context.Context, run Run, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ferr := c.finishEarly(ctx, run, StatusFailed, err.Error()); ferr != nil {
		return ferr
	}
	return &FeedError{Err: err}
}

// finishEarly ends a run that imports nothing.
func (c *Catalog) finishEarly(ctx context.Context, run Run, status, why string) error {
	rep := tasks.CatalogImportResult{
		RunID: run.Spec.RunID, Supplier: run.Spec.Supplier, Source: run.Spec.Source, Status: status,
		Rejected: []tasks.RowError{}, Warnings: []string{why},
	}
	return c.storeReport(ctx, run.Spec.RunID, c.startedMS(ctx, run.Spec.RunID), &rep)
}

func (c *Catalog) startedMS(ctx context.Context, id string) int64 {
	v, _ := c.st.RDB.HGet(ctx, c.hashKey(id), "started_ms").Int64()
	return v
}

func (c *Catalog) storeReport(ctx context.Context, id string, startedMS int64, rep *tasks.CatalogImportResult) error {
	if startedMS > 0 {
		rep.DurationMS = max(c.Now().UnixMilli()-startedMS, 0)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	pipe := c.st.RDB.TxPipeline()
	pipe.HSet(ctx, c.hashKey(id), "state", stateDone, "report", data)
	for _, k := range []string{c.hashKey(id), c.doneKey(id), c.warnKey(id)} {
		pipe.PExpire(ctx, k, c.st.Lifetimes.Runs)
	}
	pipe.Del(ctx, c.seenKey(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("run %s: store report: %w", id, err)
	}
	return nil
}

// Report returns a finished run's report; store.ErrNotFound for an unknown
// run, ErrRunNotDone for one in progress.
func (c *Catalog) Report(ctx context.Context, id string) (tasks.CatalogImportResult, error) {
	var rep tasks.CatalogImportResult
	v, err := c.st.RDB.HMGet(ctx, c.hashKey(id), "state", "report").Result()
	if err != nil {
		return rep, fmt.Errorf("run %s: %w", id, err)
	}
	state, _ := v[0].(string)
	switch state {
	case "":
		return rep, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	case stateDone:
		data, _ := v[1].(string)
		if err := json.Unmarshal([]byte(data), &rep); err != nil {
			return rep, fmt.Errorf("run %s: decode report: %w", id, err)
		}
		return rep, nil
	}
	return rep, fmt.Errorf("run %s: %w (%s)", id, ErrRunNotDone, state)
}

// Progress is a run's progress, for a terminal to show.
type Progress struct {
	State      string `json:"state"`
	RowsRead   int64  `json:"rows_read"`
	Chunks     int64  `json:"chunks"` // 0 until the whole feed is read
	ChunksDone int64  `json:"chunks_done"`
	Written    int64  `json:"chunks_written"`
}

// String formats the progress as one terminal line, e.g. "reading feed:
// 120000 rows, 180/240 chunks applied" or "applying: 1000000 rows, 1990/2000
// chunks applied".
func (p Progress) String() string {
	switch p.State {
	case stateParsing:
		return fmt.Sprintf("reading feed: %d rows, %d/%d chunks applied", p.RowsRead, p.ChunksDone, p.Written)
	case stateChunked:
		return fmt.Sprintf("applying: %d rows, %d/%d chunks applied", p.RowsRead, p.ChunksDone, p.Chunks)
	case stateFinalizing:
		return fmt.Sprintf("finishing: %d rows, %d chunks applied", p.RowsRead, p.ChunksDone)
	}
	return fmt.Sprintf("done: %d rows", p.RowsRead)
}

// Progress returns a run's progress, or store.ErrNotFound.
func (c *Catalog) Progress(ctx context.Context, id string) (Progress, error) {
	pipe := c.st.RDB.Pipeline()
	h := pipe.HMGet(ctx, c.hashKey(id), "state", "rows_read", "chunks", "chunks_written")
	done := pipe.SCard(ctx, c.doneKey(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return Progress{}, fmt.Errorf("run %s: %w", id, err)
	}
	v := h.Val()
	p := Progress{ChunksDone: done.Val()}
	p.State, _ = v[0].(string)
	if p.State == "" {
		return p, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	p.RowsRead, p.Chunks, p.Written = atoi(v[1]), atoi(v[2]), atoi(v[3])
	return p, nil
}

func atoi(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func (c *Catalog) loadValidators(ctx context.Context, spec RunSpec) Validators {
	v, err := c.st.RDB.HMGet(ctx, c.feedKey(spec.Supplier, spec.Source), "etag", "last_modified").Result()
	if err != nil {
		return Validators{}
	}
	e, _ := v[0].(string)
	l, _ := v[1].(string)
	return Validators{ETag: e, LastModified: l}
}

func sortRejects(r []tasks.RowError) {
	slices.SortStableFunc(r, func(a, b tasks.RowError) int { return a.Row - b.Row })
}

func isNotDone(err error) bool { return errors.Is(err, ErrRunNotDone) }

func skuDigest(sku string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(sku))
	return h.Sum64()
}

// encodeDigests returns the sorted digests of every SKU in the feed (valid
// or rejected), 8 bytes each: what a full refresh compares the supplier's
// catalog with. 8 MB for a million SKUs, against some 70 MB as a set.
func encodeDigests(s *splitState) []byte {
	all := make([]uint64, 0, len(s.seen)+len(s.rejectedSKUs))
	for k := range s.seen {
		all = append(all, k)
	}
	all = append(all, s.rejectedSKUs...)
	slices.Sort(all)
	out := make([]byte, 0, 8*len(all))
	for _, k := range all {
		out = binary.LittleEndian.AppendUint64(out, k)
	}
	return out
}

// digestSet is a decoded encodeDigests value.
type digestSet []byte

func (d digestSet) has(sku string) bool {
	k := skuDigest(sku)
	lo, hi := 0, len(d)/8
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		v := binary.LittleEndian.Uint64(d[8*m:])
		switch {
		case v == k:
			return true
		case v < k:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// skuField names the SKU's field in a format's rejects.
func skuField(format string) string {
	switch format {
	case tasks.FormatShopifyCSV:
		return colSKU
	case tasks.FormatMerchantTSV, tasks.FormatMerchantXML:
		return attrID
	}
	return "sku"
}
