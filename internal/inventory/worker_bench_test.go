package inventory_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// benchWorker is one asynq server on its own queue that counts the tasks
// its handler finished.
type benchWorker struct {
	queue  string
	done   atomic.Int64
	target atomic.Int64
	all    chan struct{}
}

func startBenchWorker(b *testing.B, name string, mux *asynq.ServeMux) *benchWorker {
	b.Helper()
	w := &benchWorker{queue: testenv.Queue(b, name)}
	counting := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := mux.ProcessTask(ctx, t)
		if err == nil && w.done.Add(1) == w.target.Load() {
			close(w.all)
		}
		return err
	})
	srv := asynq.NewServer(redisOpt(b), asynq.Config{
		Concurrency: 16, Queues: map[string]int{w.queue: 1}, LogLevel: asynq.ErrorLevel,
		TaskCheckInterval: 2 * time.Millisecond,
	})
	require.NoError(b, srv.Start(counting))
	b.Cleanup(srv.Shutdown)
	return w
}

// drain enqueues ts on the worker's paused queue, unpauses it and returns
// how long it took until every task's handler had succeeded.
func (w *benchWorker) drain(b *testing.B, ts []*asynq.Task) time.Duration {
	b.Helper()
	opt := redisOpt(b)
	insp := asynq.NewInspector(opt)
	defer func() { _ = insp.Close() }()
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()
	require.NoError(b, insp.PauseQueue(w.queue))

	var wg sync.WaitGroup
	next := make(chan *asynq.Task)
	for range 16 {
		wg.Go(func() {
			for t := range next {
				if _, err := client.Enqueue(t, asynq.Queue(w.queue)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, t := range ts {
		next <- t
	}
	close(next)
	wg.Wait()

	w.all = make(chan struct{})
	w.target.Store(w.done.Load() + int64(len(ts)))
	start := time.Now()
	require.NoError(b, insp.UnpauseQueue(w.queue))
	select {
	case <-w.all:
		return time.Since(start)
	case <-time.After(5 * time.Minute):
		b.Fatalf("queue %s: tasks not done", w.queue)
		return 0
	}
}

// BenchmarkReserveWorker reports reservations/s through an asynq worker
// beside bare asynq no-op tasks/s in the same run, and their ratio (the
// target is at least 0.75). b.N tasks of each kind, in alternating rounds
// of 1000 so that a change in machine load hits both alike.
func BenchmarkReserveWorker(b *testing.B) {
	testenv.RequireRealRedis(b)
	ctx := context.Background()
	st := store.New(testenv.Redis(b), testenv.Prefix(b), store.Lifetimes{})
	inv := inventory.New(st, inventory.Options{})
	const skus = 64
	for i := range skus {
		_, err := inv.Set(ctx, fmt.Sprintf("SKU-%d", i), tasks.MaxQuantity, 1, "")
		require.NoError(b, err)
	}
	noopMux := asynq.NewServeMux()
	noopMux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error { return nil })
	invMux := asynq.NewServeMux()
	handlers.NewInventory(handlers.Deps{Store: st, Enqueuer: &recorder{}}, inventory.Options{}).Register(invMux)
	noopWorker := startBenchWorker(b, "bench-noop", noopMux)
	invWorker := startBenchWorker(b, "bench-reserve", invMux)

	const round = 1000
	n := max(b.N, round)
	var bare, reserve time.Duration
	b.ResetTimer()
	for start := 0; start < n; start += round {
		size := min(round, n-start)
		noops := make([]*asynq.Task, size)
		reserves := make([]*asynq.Task, size)
		for i := range size {
			id := start + i
			noops[i] = asynq.NewTask("bench:noop", []byte(fmt.Sprintf(`{"i":%d}`, id)))
			t, err := tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{
				SKU: fmt.Sprintf("SKU-%d", id%skus), Quantity: 1, OperationID: fmt.Sprintf("bench-%d", id),
			})
			require.NoError(b, err)
			reserves[i] = t
		}
		if (start/round)%2 == 0 {
			bare += noopWorker.drain(b, noops)
			reserve += invWorker.drain(b, reserves)
		} else {
			reserve += invWorker.drain(b, reserves)
			bare += noopWorker.drain(b, noops)
		}
	}
	b.StopTimer()

	bareRate := float64(n) / bare.Seconds()
	reserveRate := float64(n) / reserve.Seconds()
	b.ReportMetric(bareRate, "noop_tasks/s")
	b.ReportMetric(reserveRate, "reservations/s")
	b.ReportMetric(reserveRate/bareRate, "ratio")
	l, err := inv.Level(ctx, "SKU-0")
	require.NoError(b, err)
	require.Positive(b, l.Reserved)
}
