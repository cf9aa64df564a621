package handlers

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// BenchmarkCatalogImportWorker imports a generated Shopify-shaped feed
// through a real asynq server (one slot for the import, two for chunks)
// and reports rows/s and the process's peak RSS:
//
//	SHOPQ_BENCH_ROWS=1000000 go test -run '^$' -bench CatalogImportWorker -benchtime 1x -timeout 30m ./handlers/
func BenchmarkCatalogImportWorker(b *testing.B) {
	rows := 10000
	if v := os.Getenv("SHOPQ_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SHOPQ_BENCH_ROWS=%q: want a positive number", v)
		}
		rows = n
	}
	path := filepath.Join(b.TempDir(), "feed.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := catalog.GenerateShopifyFeed(f, rows); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}

	rdb := testenv.Redis(b)
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	queue := testenv.Queue(b, "catalog-bench")
	h := NewCatalog(Deps{Store: store.New(rdb, testenv.Prefix(b), store.Lifetimes{}), Enqueuer: client},
		catalog.Options{PollInterval: 10 * time.Millisecond, WorkDir: b.TempDir()})
	mux := asynq.NewServeMux()
	h.Register(mux)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 3, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		task, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
			Source: path, Format: tasks.FormatShopifyCSV, Supplier: "bench-" + strconv.Itoa(i), Full: true, Force: true,
		}, asynq.Queue(queue), asynq.Retention(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		info, err := client.Enqueue(task)
		if err != nil {
			b.Fatal(err)
		}
		for {
			cur, err := insp.GetTaskInfo(queue, info.ID)
			if err != nil {
				b.Fatal(err)
			}
			if cur.State == asynq.TaskStateArchived || cur.State == asynq.TaskStateRetry {
				b.Fatalf("import %s: %s", cur.State, cur.LastErr)
			}
			if cur.State == asynq.TaskStateCompleted {
				var rep tasks.CatalogImportResult
				if err := json.Unmarshal(cur.Result, &rep); err != nil {
					b.Fatal(err)
				}
				if rep.Created+rep.Unchanged+rep.Skipped != rows {
					b.Fatalf("report does not account for %d rows: %+v", rows, rep)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peakRSSBytes())/(1<<20), "peak-RSS-MB")
}

// peakRSSBytes returns the process's peak resident set size (Linux).
func peakRSSBytes() int64 {
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
