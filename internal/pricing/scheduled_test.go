package pricing_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// queueEnqueuer puts every task on one test queue.
type queueEnqueuer struct {
	c     *asynq.Client
	queue string
}

func (q queueEnqueuer) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	return q.c.EnqueueContext(ctx, t, append(opts, asynq.Queue(q.queue))...)
}

// TestScheduledTransitions runs a Berlin-time promotion a few seconds in
// the future through a real asynq server: the reader is right at every
// instant, and the scheduled transition tasks (never early, though asynq
// keeps whole-second due times and moves them every second here)
// materialise the prices and publish start and end events.
func TestScheduledTransitions(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	b := setup(t)
	ctx := context.Background()
	deps, _ := startWorker(t, b)

	b.catalog(t, "Company 123", "", nil, "LAMP", "SOFA")
	for _, sku := range []string{"LAMP", "SOFA"} {
		task, err := tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{SKU: sku, Amount: 10000, Currency: "EUR", Version: 1})
		require.NoError(t, err)
		_, err = deps.Enqueuer.EnqueueContext(ctx, task)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		_, err := b.p.Effective(ctx, "SOFA", time.Now())
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	start := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(400 * time.Millisecond)
	end := start.Add(3 * time.Second)
	const layout = "2006-01-02T15:04:05.000"
	p := summer20()
	p.StartsAt, p.EndsAt = start.In(berlin).Format(layout), end.In(berlin).Format(layout)
	task, err := tasks.NewPromotionUpsertTask(p)
	require.NoError(t, err)
	_, err = deps.Enqueuer.EnqueueContext(ctx, task)
	require.NoError(t, err)

	// Probe the reader until after the end: right at every instant.
	for now := time.Now(); now.Before(end.Add(1500 * time.Millisecond)); now = time.Now() {
		want := int64(10000)
		if !now.Before(start) && now.Before(end) {
			want = 8000
		}
		q, err := b.p.Effective(ctx, "LAMP", now)
		require.NoError(t, err)
		require.Equal(t, want, q.Amount, now.Format(time.RFC3339Nano))
		time.Sleep(37 * time.Millisecond)
	}

	require.Eventually(t, func() bool {
		var n int
		for _, e := range b.events(t) {
			if e.Reason == pricing.ReasonPromotionEnd {
				n++
			}
		}
		return n == 2
	}, 10*time.Second, 50*time.Millisecond)
	got := map[string][]pricing.Event{}
	for _, e := range b.events(t) {
		got[e.SKU] = append(got[e.SKU], e)
	}
	for _, sku := range []string{"LAMP", "SOFA"} {
		ev := got[sku]
		require.Len(t, ev, 3, sku)
		require.Equal(t, pricing.ReasonPromotionStart, ev[1].Reason)
		require.Equal(t, int64(8000), ev[1].New)
		require.GreaterOrEqual(t, ev[1].At, start.UnixMilli(), "start transition ran early")
		require.Equal(t, pricing.ReasonPromotionEnd, ev[2].Reason)
		require.Equal(t, int64(10000), ev[2].New)
		require.GreaterOrEqual(t, ev[2].At, end.UnixMilli(), "end transition ran early")
		require.Equal(t, "10000", b.stored(t, sku))
	}
}

// startWorker runs an asynq server with the price and promotion families on
// a queue of the test's own, moving due tasks every second.
func startWorker(t *testing.T, b *testBundle) (handlers.Deps, *asynq.Inspector) {
	t.Helper()
	redisOpt := asynq.RedisClientOpt{Addr: testenv.RedisAddr(t), DB: testenv.RedisDB(t)}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { _ = client.Close() })
	queue := testenv.Queue(t, "pricing")
	deps := handlers.Deps{
		Store: b.st, Enqueuer: queueEnqueuer{c: client, queue: queue},
		Logger: slog.New(slog.DiscardHandler),
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{queue: 1},
		DelayedTaskCheckInterval: time.Second, LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	handlers.Register(mux, handlers.NewPrices(deps, pricing.Options{}), handlers.NewPromotions(deps, pricing.Options{}))
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)
	insp := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { _ = insp.Close() })
	return deps, insp
}

// TestPriceTaskResults: through a worker, a stale update completes with a
// result saying so and is counted; a malformed payload is archived.
func TestPriceTaskResults(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	b := setup(t)
	ctx := context.Background()
	deps, insp := startWorker(t, b)
	staleBefore := testutil.ToFloat64(metrics.StalePricesDropped)

	enqueue := func(p tasks.PriceUpdatePayload) *asynq.TaskInfo {
		t.Helper()
		task, err := tasks.NewPriceUpdateTask(p, asynq.Retention(time.Hour))
		require.NoError(t, err)
		info, err := deps.Enqueuer.EnqueueContext(ctx, task)
		require.NoError(t, err)
		return info
	}
	result := func(info *asynq.TaskInfo) tasks.PriceUpdateResult {
		t.Helper()
		var got *asynq.TaskInfo
		require.Eventually(t, func() bool {
			var err error
			got, err = insp.GetTaskInfo(info.Queue, info.ID)
			return err == nil && got.State == asynq.TaskStateCompleted
		}, 10*time.Second, 20*time.Millisecond)
		var r tasks.PriceUpdateResult
		require.NoError(t, json.Unmarshal(got.Result, &r))
		return r
	}

	r := result(enqueue(tasks.PriceUpdatePayload{SKU: "MUG", Amount: 1500, Currency: "EUR", Version: 10}))
	require.Equal(t, tasks.PriceUpdateResult{SKU: "MUG", Applied: true, Effective: 1500, Version: 10}, r)
	r = result(enqueue(tasks.PriceUpdatePayload{SKU: "MUG", Amount: 900, Currency: "EUR", Version: 9}))
	require.Equal(t, tasks.PriceUpdateResult{SKU: "MUG", Stale: true, Version: 9}, r)
	require.InDelta(t, 1, testutil.ToFloat64(metrics.StalePricesDropped)-staleBefore, 0.5)
	require.Equal(t, int64(1500), b.effective(t, "MUG", time.Now()))

	bad := asynq.NewTask(tasks.TypePriceUpdate, []byte(`{"sku":"MUG","amount":-1,"currency":"EUR","version":1}`))
	info, err := deps.Enqueuer.EnqueueContext(ctx, bad)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := insp.GetTaskInfo(info.Queue, info.ID)
		return err == nil && got.State == asynq.TaskStateArchived
	}, 10*time.Second, 20*time.Millisecond)
}

// TestUpsertSchedulesTransitionsOnce: a redelivered upsert schedules no
// second pair of transition tasks, and each is due at the first whole
// second not before its bound.
func TestUpsertSchedulesTransitionsOnce(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	b := setup(t)
	ctx := context.Background()
	deps, insp := startWorker(t, b)

	start := time.Now().Add(time.Hour).Truncate(time.Second).Add(250 * time.Millisecond)
	p := tasks.PromotionUpsertPayload{
		ID: "LATER", Discount: tasks.Discount{Percent: 5}, Target: tasks.Target{SKUs: []string{"A"}},
		StartsAt: start.UTC().Format(time.RFC3339Nano), EndsAt: start.Add(time.Hour).UTC().Format(time.RFC3339Nano),
		Version: 3,
	}
	var queue string
	for range 2 {
		task, err := tasks.NewPromotionUpsertTask(p, asynq.Retention(time.Hour))
		require.NoError(t, err)
		info, err := deps.Enqueuer.EnqueueContext(ctx, task)
		require.NoError(t, err)
		queue = info.Queue
		require.Eventually(t, func() bool {
			ti, err := insp.GetTaskInfo(info.Queue, info.ID)
			return err == nil && ti.State == asynq.TaskStateCompleted
		}, 10*time.Second, 20*time.Millisecond)
	}

	scheduled, err := insp.ListScheduledTasks(queue)
	require.NoError(t, err)
	require.Len(t, scheduled, 2)
	due := map[string]time.Time{}
	for _, ti := range scheduled {
		require.Equal(t, tasks.TypePromotionTransition, ti.Type)
		var tp tasks.PromotionTransitionPayload
		require.NoError(t, json.Unmarshal(ti.Payload, &tp))
		due[tp.Bound] = ti.NextProcessAt
		require.False(t, ti.NextProcessAt.Before(time.UnixMilli(tp.AtMS)), "due before its bound")
		require.Less(t, ti.NextProcessAt.Sub(time.UnixMilli(tp.AtMS)), time.Second)
	}
	require.Equal(t, start.Truncate(time.Second).Add(time.Second).Unix(), due["start"].Unix())
	require.Equal(t, start.Add(time.Hour).Truncate(time.Second).Add(time.Second).Unix(), due["end"].Unix())
}
