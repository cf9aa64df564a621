package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/tasks"
)

// enqueueKind is one producer configuration of figure 3.
type enqueueKind struct {
	Name       string
	Shopq      bool
	Goroutines int
	PoolSize   int // go-redis pool of the shared client; 0 = default
}

func reservePayload(i int) tasks.InventoryReservePayload {
	return tasks.InventoryReservePayload{SKU: benchSKU(i), Quantity: 1, OperationID: "bench-op-" + strconv.Itoa(i)}
}

// runEnqueue enqueues from k.Goroutines goroutines sharing one client for
// d and returns tasks/s.
func (e *Env) runEnqueue(ctx context.Context, k enqueueKind, d time.Duration) (float64, error) {
	if err := e.Flush(ctx); err != nil {
		return 0, err
	}
	url := e.RedisURL
	if k.PoolSize > 0 {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "pool_size=" + strconv.Itoa(k.PoolSize)
	}
	rdb, err := redisconn.Open(url)
	if err != nil {
		return 0, err
	}
	client := asynq.NewClientFromRedisClient(rdb)
	defer func() { _ = client.Close() }()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return 0, err
	}
	var next, done atomic.Int64
	var stop atomic.Bool
	errs := make(chan error, k.Goroutines)
	var wg sync.WaitGroup
	start := time.Now()
	for range k.Goroutines {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1))
				var t *asynq.Task
				var err error
				if k.Shopq {
					t, err = tasks.NewInventoryReserveTask(reservePayload(i))
				} else {
					var data []byte
					data, err = json.Marshal(reservePayload(i))
					t = asynq.NewTask(tasks.TypeInventoryReserve, data)
				}
				if err == nil {
					_, err = client.EnqueueContext(ctx, t)
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("%s: %w", k.Name, err)
	}
	return float64(done.Load()) / took.Seconds(), nil
}

// Figure 3: enqueue rates, shopq's producer path (tasks constructors:
// validation, JSON, spec options, creation header) beside bare
// asynq.NewTask + Enqueue, at the same concurrency.
func fig3(ctx context.Context, e *Env, r *Reporter, o Options) error {
	d := 1500 * time.Millisecond
	if o.Quick {
		d = 300 * time.Millisecond
	}
	kinds := []enqueueKind{
		{Name: "bare 1 goroutine", Goroutines: 1}, {Name: "shopq 1 goroutine", Shopq: true, Goroutines: 1},
		{Name: "bare 16 goroutines", Goroutines: 16}, {Name: "shopq 16 goroutines", Shopq: true, Goroutines: 16},
		{Name: "shopq bulk: 64 goroutines, shared client, pool 64", Shopq: true, Goroutines: 64, PoolSize: 64},
	}
	rates := map[string][]float64{}
	for run := range o.Runs {
		for _, k := range kinds {
			v, err := e.runEnqueue(ctx, k, d)
			if err != nil {
				return err
			}
			rates[k.Name] = append(rates[k.Name], v)
			e.Log("fig3 run %d %s: %.0f tasks/s", run+1, k.Name, v)
		}
	}
	r.Printf("\n== fig3: enqueue (inventory:reserve payloads, %v per configuration per run) ==", d)
	for _, k := range kinds {
		r.Figure("fig3", "enqueue "+k.Name, "tasks/s", rates[k.Name], nil, "")
	}
	r.Figure("fig3", "ratio shopq / bare, 1 goroutine", "x", ratios(rates[kinds[1].Name], rates[kinds[0].Name]), nil, "same run")
	r.Figure("fig3", "ratio shopq / bare, 16 goroutines", "x", ratios(rates[kinds[3].Name], rates[kinds[2].Name]), nil, "same run")
	bulk := ratios(rates[kinds[4].Name], rates[kinds[2].Name])
	r.Figure("fig3", "ratio shopq bulk / bare 16 goroutines", "x", bulk,
		&Target{Name: "bulk/bare16", Value: 0.8}, "same run")
	r.Figure("fig3", "peer gap: shopq bulk / Sidekiq push_bulk (1.7x bare 16)", "x", scale(bulk, 1/1.7), nil,
		"1.0 would match the best peer")
	return nil
}
