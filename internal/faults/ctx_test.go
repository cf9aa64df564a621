package faults

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/inventory"
)

// Scenario B04. A handler that ignores its context past its timeout: asynq
// gives up on it at the timeout, so its worker slot is free for the next
// task at once, and the task is retried; the handler's late write and the
// retry's write carry the same operation id, so the stock changes once.
func TestHandlerIgnoringContextSlotFreedEffectOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "")
	cfgPath := e.writeConfig("worker.yaml", "http:\n  addr: \"\"\nworker:\n  concurrency: 1\n  dequeuers: 1\n")
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

	const sku, op = "CTX-SKU", "ctx-op-1"
	inv := inventory.New(e.Store, inventory.Options{LowStockThreshold: -1})
	_, err = inv.Set(ctx, sku, 100, 1, "")
	require.NoError(t, err)
	attempts := e.Store.Key("faults", "attempts")
	late := e.Store.Key("faults", "late")
	quickSawLate := e.Store.Key("faults", "quick")

	stubborn := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		n, err := e.RDB.Incr(context.WithoutCancel(ctx), attempts).Result()
		if err != nil {
			return err
		}
		if n == 1 {
			// Blocked in something that ignores ctx, far past the 1 s timeout.
			time.Sleep(3 * time.Second)
			bg := context.WithoutCancel(ctx)
			if _, err := inv.Adjust(bg, sku, 5, "delivery", op); err != nil {
				return err
			}
			return e.RDB.Set(bg, late, "1", 0).Err()
		}
		_, err = inv.Adjust(ctx, sku, 5, "delivery", op)
		return err
	})
	quick := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		seen, err := e.RDB.Exists(ctx, late).Result()
		if err != nil {
			return err
		}
		return e.RDB.Set(ctx, quickSawLate, seen, 0).Err()
	})
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), app.Options{
		ExtraHandlers: map[string]asynq.Handler{"faults:stubborn": stubborn, "faults:quick": quick},
	})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(a.Shutdown)

	payload, _ := json.Marshal(map[string]string{"sku": sku})
	slow, err := e.Cli.Enqueue(asynq.NewTask("faults:stubborn", payload), asynq.Queue("critical"),
		asynq.Timeout(time.Second), asynq.MaxRetry(5), asynq.Retention(time.Hour))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n, _ := e.RDB.Get(ctx, attempts).Int()
		return n >= 1
	}, 20*time.Second, 5*time.Millisecond)
	fast, err := e.Cli.Enqueue(asynq.NewTask("faults:quick", nil), asynq.Queue("critical"), asynq.Retention(time.Hour))
	require.NoError(t, err)

	// The quick task runs on the only slot while the stubborn handler
	// still sleeps: the slot was freed at the timeout.
	require.Eventually(t, func() bool {
		info, err := e.Insp.GetTaskInfo("critical", fast.ID)
		return err == nil && info.State == asynq.TaskStateCompleted
	}, 20*time.Second, 10*time.Millisecond)
	saw, err := e.RDB.Get(ctx, quickSawLate).Result()
	require.NoError(t, err)
	require.Equal(t, "0", saw, "the quick task ran only after the stubborn handler returned: its slot was held")

	// The stubborn task is retried and completes; its late write lands too.
	var info *asynq.TaskInfo
	require.Eventually(t, func() bool {
		info, err = e.Insp.GetTaskInfo("critical", slow.ID)
		lateDone, _ := e.RDB.Exists(ctx, late).Result()
		return err == nil && info.State == asynq.TaskStateCompleted && lateDone == 1
	}, 60*time.Second, 20*time.Millisecond)
	require.GreaterOrEqual(t, info.Retried, 1, "retried after the timeout")
	require.Contains(t, info.LastErr, "deadline exceeded")
	n, err := e.RDB.Get(ctx, attempts).Int()
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2)

	lvl, err := inv.Level(ctx, sku)
	require.NoError(t, err)
	require.EqualValues(t, 105, lvl.OnHand, "the adjust applied once")
	d, err := inv.ReconcileSKU(ctx, sku)
	require.NoError(t, err)
	require.False(t, d.Drifted(), "%+v", d)
	c, err := e.counts()
	require.NoError(t, err)
	require.Zero(t, c.open()+c.Archived, "%+v", c)
}
