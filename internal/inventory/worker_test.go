package inventory_test

import (
	"context"
	"encoding/json"
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

func redisOpt(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	return asynq.RedisClientOpt{Addr: testenv.RedisAddr(t), DB: testenv.RedisDB(t)}
}

// startWorkers starts n asynq servers on queue, each with its own handler
// family built by family, as separate worker processes would.
func startWorkers(t testing.TB, n, concurrency int, queue string, family func() handlers.Family) {
	t.Helper()
	for range n {
		srv := asynq.NewServer(redisOpt(t), asynq.Config{
			Concurrency: concurrency, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
		})
		mux := asynq.NewServeMux()
		family().Register(mux)
		require.NoError(t, srv.Start(mux))
		t.Cleanup(srv.Shutdown)
	}
}

// waitCompleted waits until queue has n completed tasks and nothing else.
func waitCompleted(t testing.TB, queue string, n int) {
	t.Helper()
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := insp.GetQueueInfo(queue)
		if err == nil && info.Completed == n && info.Size == info.Completed {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "tasks did not finish", "queue %s: %+v, err %v", queue, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// N reservations of one unit for M < N units, across three worker
// processes: exactly M are granted, available never goes below zero, and
// the ledger sums to the counts.
func TestConcurrentReservationsAcrossWorkers(t *testing.T) {
	testenv.RequireRealRedis(t)
	const n, m = 90, 37
	ctx := context.Background()
	queue := testenv.Queue(t, "inventory")
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	deps := handlers.Deps{Store: st, Enqueuer: &recorder{}}
	inv := inventory.New(st, inventory.Options{})
	_, err := inv.Set(ctx, "HOT", m, 1, "")
	require.NoError(t, err)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	for i := range n {
		tk, err := tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{
			SKU: "HOT", Quantity: 1, OperationID: fmt.Sprintf("order-%d/1", i),
		}, asynq.Queue(queue), asynq.Retention(10*time.Minute))
		require.NoError(t, err)
		_, err = client.Enqueue(tk)
		require.NoError(t, err)
	}

	var negative atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if l, err := inv.Level(ctx, "HOT"); err == nil && l.Available < 0 {
				negative.Add(1)
			}
		}
	})
	startWorkers(t, 3, 8, queue, func() handlers.Family {
		return handlers.NewInventory(deps, inventory.Options{})
	})
	waitCompleted(t, queue, n)
	close(stop)
	wg.Wait()

	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	done, err := insp.ListCompletedTasks(queue, asynq.PageSize(n))
	require.NoError(t, err)
	require.Len(t, done, n)
	granted := 0
	for _, ti := range done {
		var r tasks.InventoryResult
		require.NoError(t, json.Unmarshal(ti.Result, &r))
		if r.Granted {
			granted++
		}
	}
	require.Equal(t, m, granted)
	require.Zero(t, negative.Load(), "available went below zero")
	require.Equal(t, tasks.StockLevel{SKU: "HOT", OnHand: m, Reserved: m, Available: 0}, level(t, inv, "HOT"))
	requireBalanced(t, inv, "HOT")
}

// B05(a) through asynq: ORD-2001 and ORD-2002 each take one MUG-BLU in the
// same second, enqueued with asynq.Unique. The operation id is part of the
// payload, so the uniqueness lock (queue + type + payload) never merges the
// two, and both apply.
func TestTwoOrdersSameSKUThroughUniqueTasks(t *testing.T) {
	testenv.RequireRealRedis(t)
	ctx := context.Background()
	queue := testenv.Queue(t, "b05")
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	inv := inventory.New(st, inventory.Options{})
	_, err := inv.Set(ctx, "MUG-BLU", 10, 1, "")
	require.NoError(t, err)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	for _, order := range []string{"ORD-2001", "ORD-2002"} {
		tk, err := tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
			SKU: "MUG-BLU", Delta: -1, Reason: tasks.ReasonCorrection, OperationID: order + "/1",
		}, asynq.Queue(queue), asynq.Unique(time.Minute))
		require.NoError(t, err)
		_, err = client.Enqueue(tk)
		require.NoError(t, err, "payloads differ by operation id")
	}
	startWorkers(t, 2, 2, queue, func() handlers.Family {
		return handlers.NewInventory(handlers.Deps{Store: st, Enqueuer: &recorder{}}, inventory.Options{})
	})
	require.Eventually(t, func() bool {
		l, err := inv.Level(ctx, "MUG-BLU")
		return err == nil && l.OnHand == 8
	}, 30*time.Second, 10*time.Millisecond)
	requireBalanced(t, inv, "MUG-BLU")
}
