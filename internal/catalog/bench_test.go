package catalog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// benchRows is the feed size of BenchmarkImportShopify:
// SHOPQ_BENCH_ROWS=1000000 go test -run '^$' -bench ImportShopify ./internal/catalog/
func benchRows(b *testing.B) int {
	if v := os.Getenv("SHOPQ_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SHOPQ_BENCH_ROWS=%q: want a positive number", v)
		}
		return n
	}
	return 10000
}

// BenchmarkParseShopifyCSV reads and validates a generated 100,000-row
// Shopify export; rows/s is the figure to watch.
func BenchmarkParseShopifyCSV(b *testing.B) {
	const rows = 100000
	var feed bytes.Buffer
	if err := GenerateShopifyFeed(&feed, rows); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(feed.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := NewReader(tasks.FormatShopifyCSV, bytes.NewReader(feed.Bytes()), ParseOptions{Supplier: "b", Currency: "EUR"})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || rec.Reject != nil {
				b.Fatalf("row %d: %v %+v", rec.Row, err, rec.Reject)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkImportShopify imports a generated feed into Redis as a worker
// with two chunk slots would: split, chunks, upserts, index sets, fan-in.
// It reports rows/s of the whole import and the process's peak RSS.
// Each iteration imports into a fresh key prefix, so every product is new.
func BenchmarkImportShopify(b *testing.B) {
	rows := benchRows(b)
	path := filepath.Join(b.TempDir(), "feed.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := GenerateShopifyFeed(f, rows); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	rdb := testenv.Redis(b)

	b.ResetTimer()
	var total time.Duration
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		st := store.New(rdb, testenv.Prefix(b), store.Lifetimes{})
		c := New(st, Options{WorkDir: b.TempDir(), PollInterval: 2 * time.Millisecond})
		start := time.Now()
		rep := benchImport(b, c, path, "run-"+strconv.Itoa(i))
		total += time.Since(start)
		if rep.Created+rep.Skipped != rows {
			b.Fatalf("imported %d + skipped %d of %d rows: %+v", rep.Created, rep.Skipped, rows, rep.Warnings)
		}
		b.StopTimer()
		dropPrefix(b, rdb, st.Prefix)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(rows*b.N), "worker-CPU-µs/row")
}

func benchImport(b *testing.B, c *Catalog, path, id string) tasks.CatalogImportResult {
	ctx := context.Background()
	run, err := c.Begin(ctx, RunSpec{RunID: id, Source: path, Format: tasks.FormatShopifyCSV, Supplier: "bench", Full: true})
	if err != nil {
		b.Fatal(err)
	}
	chunks := make(chan int, c.o.MaxPendingChunks+1)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range chunks {
				res, err := c.ApplyChunk(ctx, id, n)
				if err == nil {
					_, err = c.ChunkDone(ctx, res)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	err = c.Split(ctx, run, func(ctx context.Context, _ string, n int) error {
		chunks <- n
		return nil
	})
	close(chunks)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	rep, _, err := c.Wait(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	return rep
}

// dropPrefix deletes a run's keys so the next iteration starts empty.
func dropPrefix(b *testing.B, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	var keys []string
	flush := func() {
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				b.Fatal(err)
			}
			keys = keys[:0]
		}
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) >= 5000 {
			flush()
		}
	}
	flush()
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set size in bytes (Linux).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
