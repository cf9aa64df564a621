package schedule

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
)

// runReplicas runs n schedulers on the real clock. stop ends them all and
// returns once they have stopped; kill(i) ends replica i alone.
func runReplicas(t *testing.T, b *testBundle, n int, loader Loader) (stop func(), kill func(i int)) {
	t.Helper()
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		s, err := New(Options{Loader: loader, Enqueuer: b.rec, Store: b.store, ReloadInterval: 200 * time.Millisecond})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("scheduler run: %v", err)
			}
		}()
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range cancels {
				c()
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop, func(i int) { cancels[i]() }
}

// TestReplicasEnqueueEachSlotOnce runs three scheduler replicas for a minute
// on an "@every 5s" entry, killing one halfway (scenario B07): every slot is
// enqueued exactly once, with no gap.
func TestReplicasEnqueueEachSlotOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute")
	}
	t.Parallel()
	b := setup(t)
	e := b.entry("every5s", "@every 5s")

	start := time.Now()
	stop, kill := runReplicas(t, b, 3, static(e))
	time.Sleep(31 * time.Second)
	kill(0)
	time.Sleep(30 * time.Second)
	stop()
	end := time.Now()

	got, conflicts := b.rec.snapshot()
	require.Zero(t, conflicts, "claims kept replicas from even trying a second enqueue")

	// Every slot of the run, from the first one after start (the startup
	// catch-up may add the one just before) to the last one before end.
	first := start.Truncate(5 * time.Second).Add(5 * time.Second)
	var want []string
	for s := first; s.Before(end.Add(-3 * time.Second)); s = s.Add(5 * time.Second) {
		want = append(want, slotID("every5s", s))
	}
	require.GreaterOrEqual(t, len(want), 11)
	for _, id := range want {
		require.Equal(t, 1, got[id], "slot %s", id)
	}
	for id, n := range got {
		require.Equal(t, 1, n, "slot %s", id)
	}
	require.LessOrEqual(t, len(got), len(want)+2)

	// asynq holds exactly those tasks, one per slot.
	pending, err := b.insp.ListPendingTasks(b.queue, asynq.PageSize(1000))
	require.NoError(t, err)
	ids := map[string]int{}
	for _, ti := range pending {
		ids[ti.ID]++
	}
	require.Equal(t, got, ids)
}

// TestArchivedRunKeepsFiring runs a worker whose handler fails every run
// permanently: each run is archived and the entry keeps firing.
func TestArchivedRunKeepsFiring(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.entry("doomed", "@every 1s")

	var runs atomic.Int32
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
		Queues: map[string]int{b.queue: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
	})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		runs.Add(1)
		return fmt.Errorf("supplier feed gone: %w", asynq.SkipRetry)
	})))
	t.Cleanup(srv.Shutdown)

	stop, _ := runReplicas(t, b, 1, static(e))
	require.Eventually(t, func() bool {
		archived, err := b.insp.ListArchivedTasks(b.queue)
		return err == nil && len(archived) >= 4
	}, 20*time.Second, 100*time.Millisecond)
	stop()

	archived, err := b.insp.ListArchivedTasks(b.queue)
	require.NoError(t, err)
	slots := map[string]bool{}
	for _, ti := range archived {
		require.Contains(t, ti.LastErr, "supplier feed gone")
		slots[ti.ID] = true
	}
	require.Len(t, slots, len(archived), "each archived run is a distinct slot")
	require.GreaterOrEqual(t, int(runs.Load()), 4)
}

// TestReloadAppliesEdits edits the entries while replicas run: an added
// entry starts firing, a removed one stops, within the reload interval.
func TestReloadAppliesEdits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var current atomic.Value
	current.Store([]Entry{b.entry("reconcile", "@every 1s")})
	loader := func(context.Context) ([]Entry, error) { return current.Load().([]Entry), nil }

	stop, _ := runReplicas(t, b, 2, loader)
	require.Eventually(t, func() bool { return countFor(b, "reconcile") >= 2 }, 10*time.Second, 50*time.Millisecond)

	current.Store([]Entry{b.entry("reconcile", "@every 1s"), b.entry("flashsale", "@every 1s")})
	require.Eventually(t, func() bool { return countFor(b, "flashsale") >= 2 }, 10*time.Second, 50*time.Millisecond)

	current.Store([]Entry{b.entry("reconcile", "@every 1s")})
	removedAt := time.Now()
	require.Eventually(t, func() bool { return countFor(b, "reconcile") >= countFor(b, "flashsale")+4 },
		15*time.Second, 50*time.Millisecond)
	stop()

	got, _ := b.rec.snapshot()
	for id := range got {
		rest, ok := strings.CutPrefix(id, "sched:flashsale:")
		if !ok {
			continue
		}
		unix, err := strconv.ParseInt(rest, 10, 64)
		require.NoError(t, err)
		require.Less(t, unix, removedAt.Add(2*time.Second).Unix(), "flashsale fired after its removal was loaded")
	}
	for _, n := range got {
		require.Equal(t, 1, n)
	}
}

func countFor(b *testBundle, name string) int {
	got, _ := b.rec.snapshot()
	n := 0
	for id := range got {
		if strings.HasPrefix(id, "sched:"+name+":") {
			n++
		}
	}
	return n
}
