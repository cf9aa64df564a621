package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder is an Enqueuer over a real asynq client that counts outcomes per
// task ID, shared by every replica of a test.
type recorder struct {
	client *asynq.Client

	mu        sync.Mutex
	ok        map[string]int
	conflicts int
	failNext  atomic.Int32
}

func newRecorder(rdb redis.UniversalClient) *recorder {
	return &recorder{client: asynq.NewClientFromRedisClient(rdb), ok: map[string]int{}}
}

func (r *recorder) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if r.failNext.Add(-1) >= 0 {
		return nil, errors.New("injected enqueue failure")
	}
	info, err := r.client.EnqueueContext(ctx, t, opts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.ok[info.ID]++
	case errors.Is(err, asynq.ErrTaskIDConflict):
		r.conflicts++
	}
	return info, err
}

func (r *recorder) snapshot() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.ok))
	for k, v := range r.ok {
		out[k] = v
	}
	return out, r.conflicts
}

type testBundle struct {
	rdb   *redis.Client
	store *store.Store
	rec   *recorder
	queue string
	insp  *asynq.Inspector
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	rdb := testenv.Redis(t)
	return &testBundle{
		rdb:   rdb,
		store: store.New(rdb, testenv.Prefix(t), store.Lifetimes{}),
		rec:   newRecorder(rdb),
		queue: testenv.Queue(t, "sched"),
		insp:  asynq.NewInspectorFromRedisClient(rdb),
	}
}

// entry returns a valid entry on the bundle's queue.
func (b *testBundle) entry(name, spec string) Entry {
	return Entry{Name: name, Cron: spec, Task: tasks.TypeInventorySet, Queue: b.queue,
		Payload: map[string]any{"sku": "MUG-" + name, "on_hand": 5, "version": 1}}
}

func (b *testBundle) scheduler(t *testing.T, loader Loader, now func() time.Time) *Scheduler {
	t.Helper()
	s, err := New(Options{Loader: loader, Enqueuer: b.rec, Store: b.store, ReloadInterval: 200 * time.Millisecond,
		CatchUp: time.Minute, NowFunc: now})
	require.NoError(t, err)
	return s
}

func static(entries ...Entry) Loader {
	return func(context.Context) ([]Entry, error) { return entries, nil }
}

func slotID(name string, at time.Time) string {
	return fmt.Sprintf("sched:%s:%d", name, at.Unix())
}

// TestMissedSlots drives the scheduler with a fake clock through the rule in
// doc.go: a slot missed by at most CatchUp runs once on startup; older ones
// are skipped; several missed slots coalesce into one run.
func TestMissedSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)

	t.Run("RecentSlotRunsOnStartup", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.scheduler(t, static(b.entry("nightly", "0 3 * * *")), nil)
		s.reload(ctx, base.Add(40*time.Second), true)
		s.tick(ctx, base.Add(40*time.Second))
		s.tick(ctx, base.Add(41*time.Second))
		got, _ := b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("nightly", base): 1}, got)
	})

	t.Run("OldSlotIsSkipped", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.scheduler(t, static(b.entry("nightly", "0 3 * * *")), nil)
		s.reload(ctx, base.Add(2*time.Hour), true)
		s.tick(ctx, base.Add(2*time.Hour))
		got, _ := b.rec.snapshot()
		require.Empty(t, got)

		// The next day's slot runs as usual.
		s.tick(ctx, base.Add(24*time.Hour))
		got, _ = b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("nightly", base.Add(24*time.Hour)): 1}, got)
	})

	t.Run("MissedSlotsCoalesce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.scheduler(t, static(b.entry("often", "@every 10s")), nil)
		s.reload(ctx, base, false)
		s.tick(ctx, base)
		// A pause of 35 s (GC, suspended VM) misses three slots: one run.
		s.tick(ctx, base.Add(35*time.Second))
		got, _ := b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("often", base.Add(30*time.Second)): 1}, got)
	})

	t.Run("NewEntryStartsWithNextSlot", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		entries := []Entry{}
		s := b.scheduler(t, func(context.Context) ([]Entry, error) { return entries, nil }, nil)
		s.reload(ctx, base, true)
		entries = []Entry{b.entry("added", "@every 1m")}
		s.reload(ctx, base.Add(20*time.Second), false)
		s.tick(ctx, base.Add(20*time.Second))
		got, _ := b.rec.snapshot()
		require.Empty(t, got, "the 03:00 slot passed before the entry existed")
		s.tick(ctx, base.Add(time.Minute))
		got, _ = b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("added", base.Add(time.Minute)): 1}, got)
	})

	t.Run("FailedEnqueueIsRetried", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.scheduler(t, static(b.entry("flaky", "@every 1m")), nil)
		s.reload(ctx, base.Add(-time.Second), false)
		b.rec.failNext.Store(2)
		s.tick(ctx, base)
		s.tick(ctx, base.Add(time.Second))
		got, _ := b.rec.snapshot()
		require.Empty(t, got)
		require.Zero(t, b.rdb.Exists(ctx, b.store.Key("sched", "flaky", fmt.Sprint(base.Unix()))).Val(),
			"a failed enqueue releases its claim")

		s.tick(ctx, base.Add(2*time.Second))
		got, _ = b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("flaky", base): 1}, got)
	})

	t.Run("NeverMatchingSpec", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s := b.scheduler(t, static(b.entry("feb30", "0 0 30 2 *"), b.entry("hourly", "@hourly")), nil)
		s.reload(ctx, base, true)
		s.tick(ctx, base.Add(time.Hour))
		got, _ := b.rec.snapshot()
		require.Equal(t, map[string]int{slotID("hourly", base.Add(time.Hour)): 1}, got)
		require.Equal(t, base.Add(2*time.Hour), s.nextWake(base.Add(time.Hour), base.Add(24*time.Hour)))
	})

	t.Run("ReplicasShareSlots", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		e := b.entry("shared", "@every 5s")
		var replicas []*Scheduler
		for range 3 {
			s := b.scheduler(t, static(e), nil)
			s.reload(ctx, base.Add(-time.Second), false)
			replicas = append(replicas, s)
		}
		for step := range 12 {
			for _, s := range replicas {
				s.tick(ctx, base.Add(time.Duration(step)*time.Second))
			}
		}
		got, conflicts := b.rec.snapshot()
		require.Equal(t, map[string]int{
			slotID("shared", base): 1, slotID("shared", base.Add(5*time.Second)): 1,
			slotID("shared", base.Add(10*time.Second)): 1,
		}, got)
		require.Zero(t, conflicts)
	})
}

// TestBrokenEntryDoesNotBlockOthers is scenario B07's invalid edit: the
// same reload adds broken entries and changes a good one; the change applies
// and the broken entries are reported on their own.
func TestBrokenEntryDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	reconcile := b.entry("reconcile-b07", "@every 1m")
	entries := []Entry{reconcile}
	s := b.scheduler(t, func(context.Context) ([]Entry, error) { return entries, nil }, nil)
	s.reload(ctx, base.Add(-time.Second), false)
	s.tick(ctx, base)

	reconcile.Cron = "@every 2m"
	emptyCron := b.entry("empty-cron-b07", "")
	badZone := b.entry("bad-zone-b07", "@daily")
	badZone.TimeZone = "Nowhere/Special"
	unknown := b.entry("unknown-type-b07", "@every 1m")
	unknown.Task = "flashsale:sync"
	badPayload := b.entry("bad-payload-b07", "@every 1m")
	badPayload.Payload = map[string]any{"sku": ""}
	dup := b.entry("reconcile-b07", "@every 1m")
	entries = []Entry{emptyCron, reconcile, badZone, unknown, badPayload, dup}
	s.reload(ctx, base.Add(30*time.Second), false)

	for _, name := range []string{"empty-cron-b07", "bad-zone-b07", "unknown-type-b07", "bad-payload-b07"} {
		require.InDelta(t, 1.0, testutil.ToFloat64(entryInvalid.WithLabelValues(name)), 0, name)
		require.InDelta(t, 1.0, testutil.ToFloat64(scheduleErrors.WithLabelValues(name, reasonInvalid)), 0, name)
	}
	require.Len(t, s.states, 1)

	for m := 1; m <= 4; m++ {
		s.tick(ctx, base.Add(time.Duration(m)*time.Minute))
	}
	// A second reload with the same broken entries does not report them again.
	s.reload(ctx, base.Add(4*time.Minute), false)
	require.InDelta(t, 1.0, testutil.ToFloat64(scheduleErrors.WithLabelValues("bad-zone-b07", reasonInvalid)), 0)

	got, _ := b.rec.snapshot()
	require.Equal(t, map[string]int{
		slotID("reconcile-b07", base):                    1,
		slotID("reconcile-b07", base.Add(2*time.Minute)): 1,
		slotID("reconcile-b07", base.Add(4*time.Minute)): 1,
	}, got, "reconcile moved to every 2 minutes despite the broken entries")

	// Fixing the file clears the gauge.
	entries = []Entry{reconcile}
	s.reload(ctx, base.Add(5*time.Minute), false)
	for _, name := range []string{"empty-cron-b07", "bad-zone-b07", "unknown-type-b07", "bad-payload-b07"} {
		require.False(t, hasInvalidSeries(t, name), name)
	}
}

// hasInvalidSeries reports whether shopq_schedule_entry_invalid has a series
// for the schedule.
func hasInvalidSeries(t *testing.T, name string) bool {
	t.Helper()
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "shopq_schedule_entry_invalid" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "schedule" && l.GetValue() == name {
					return true
				}
			}
		}
	}
	return false
}

func TestLoaderFailureKeepsEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var fail bool
	s := b.scheduler(t, func(context.Context) ([]Entry, error) {
		if fail {
			return nil, errors.New("config: yaml: line 3: did not find expected key")
		}
		return []Entry{b.entry("keep", "@every 1m")}, nil
	}, nil)
	s.reload(ctx, base.Add(-time.Second), false)
	fail = true
	s.reload(ctx, base.Add(-time.Millisecond), false)
	s.tick(ctx, base)
	got, _ := b.rec.snapshot()
	require.Equal(t, map[string]int{slotID("keep", base): 1}, got)
}
