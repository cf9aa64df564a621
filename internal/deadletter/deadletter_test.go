package deadletter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type testBundle struct {
	insp   *asynq.Inspector
	queue  string
	other  string
	mails  []string
	stocks []string
}

// setup archives real tasks: a worker fails 3 mail:send and 2 inventory:set
// tasks permanently in one queue, and 1 mail:send in another.
func setup(t *testing.T) *testBundle {
	t.Helper()
	rdb := testenv.Redis(t)
	b := &testBundle{insp: asynq.NewInspectorFromRedisClient(rdb), queue: testenv.Queue(t, "dead"),
		other: testenv.Queue(t, "dead-other")}
	client := asynq.NewClientFromRedisClient(rdb)

	enqueue := func(typ, queue string) string {
		info, err := client.Enqueue(asynq.NewTask(typ, []byte(`{}`)), asynq.Queue(queue), asynq.MaxRetry(3))
		require.NoError(t, err)
		return info.ID
	}
	for range 3 {
		b.mails = append(b.mails, enqueue("mail:send", b.queue))
	}
	for range 2 {
		b.stocks = append(b.stocks, enqueue("inventory:set", b.queue))
	}
	enqueue("mail:send", b.other)

	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues: map[string]int{b.queue: 1, b.other: 1}, Concurrency: 4, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("mail:send", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("smtp: 550 mailbox unavailable: %w", asynq.SkipRetry)
	})
	mux.HandleFunc("inventory:set", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("set stock: sku not found: %w", asynq.SkipRetry)
	})
	require.NoError(t, srv.Start(mux))
	require.Eventually(t, func() bool {
		a, err1 := b.insp.GetQueueInfo(b.queue)
		o, err2 := b.insp.GetQueueInfo(b.other)
		return err1 == nil && err2 == nil && a.Archived == 5 && o.Archived == 1
	}, 15*time.Second, 20*time.Millisecond)
	srv.Shutdown()
	return b
}

func (b *testBundle) archived(t *testing.T, queue string) int {
	t.Helper()
	qi, err := b.insp.GetQueueInfo(queue)
	require.NoError(t, err)
	return qi.Archived
}

func TestList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	both := []string{b.queue, b.other}

	all, err := List(b.insp, Filter{Queues: both})
	require.NoError(t, err)
	require.Len(t, all, 6)

	mails, err := List(b.insp, Filter{Queues: both, Type: "mail:send"})
	require.NoError(t, err)
	require.Len(t, mails, 4)
	for _, m := range mails {
		require.Equal(t, "mail:send", m.Type)
		require.Contains(t, m.LastErr, "550 mailbox unavailable")
		require.False(t, m.FailedAt.IsZero())
	}

	family, err := List(b.insp, Filter{Queues: []string{b.queue}, Type: "inventory:"})
	require.NoError(t, err)
	require.Len(t, family, 2)
	require.Contains(t, family[0].LastErr, "sku not found")

	limited, err := List(b.insp, Filter{Queues: both, Limit: 2})
	require.NoError(t, err)
	require.Len(t, limited, 2)

	groups := Summarize(all)
	require.Len(t, groups, 3)
	counts := map[string]int{}
	for _, g := range groups {
		counts[g.Queue+" "+g.Type] = g.Count
		require.NotEmpty(t, g.LastErr)
	}
	require.Equal(t, map[string]int{
		b.queue + " mail:send": 3, b.queue + " inventory:set": 2, b.other + " mail:send": 1,
	}, counts)

	// Without queues every queue is searched.
	everywhere, err := List(b.insp, Filter{Type: "inventory:set"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(everywhere), 2)
}

func TestRunAndDelete(t *testing.T) {
	t.Parallel()

	t.Run("One", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		q, err := Run(b.insp, Filter{}, b.mails[0])
		require.NoError(t, err)
		require.Equal(t, b.queue, q)
		ti, err := b.insp.GetTaskInfo(b.queue, b.mails[0])
		require.NoError(t, err)
		require.Equal(t, asynq.TaskStatePending, ti.State)

		_, err = Run(b.insp, Filter{Queues: []string{b.queue}}, b.mails[0])
		require.ErrorIs(t, err, ErrNotArchived, "a task that is no longer archived")

		q, err = Delete(b.insp, Filter{Queues: []string{b.queue}}, b.stocks[0])
		require.NoError(t, err)
		require.Equal(t, b.queue, q)
		_, err = b.insp.GetTaskInfo(b.queue, b.stocks[0])
		require.ErrorIs(t, err, asynq.ErrTaskNotFound)
		require.Equal(t, 3, b.archived(t, b.queue))

		_, err = Delete(b.insp, Filter{}, "no-such-task")
		require.ErrorIs(t, err, ErrNotArchived)
	})

	t.Run("MatchingType", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		n, err := RunMatching(b.insp, Filter{Queues: []string{b.queue}, Type: "mail:send"})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		qi, err := b.insp.GetQueueInfo(b.queue)
		require.NoError(t, err)
		require.Equal(t, 3, qi.Pending)
		require.Equal(t, 2, qi.Archived, "other types stay archived")
		require.Equal(t, 1, b.archived(t, b.other), "other queues are untouched")

		n, err = DeleteMatching(b.insp, Filter{Queues: []string{b.queue}, Type: "inventory:"})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Zero(t, b.archived(t, b.queue))
	})

	t.Run("All", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		n, err := RunMatching(b.insp, Filter{Queues: []string{b.queue}})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		n, err = DeleteMatching(b.insp, Filter{Queues: []string{b.other}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Zero(t, b.archived(t, b.queue))
		require.Zero(t, b.archived(t, b.other))
	})
}

func TestChecker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// 5 archived of 10,000 is 0.05%: past a warning ratio of 0.04%.
	c := NewChecker(b.insp, CheckerOptions{Logger: logger, WarnRatio: 0.0004})
	fills, err := c.Check()
	require.NoError(t, err)
	byQueue := map[string]Fill{}
	for _, f := range fills {
		byQueue[f.Queue] = f
	}
	require.Equal(t, Fill{Queue: b.queue, Archived: 5, Ratio: 5.0 / metrics.AsynqArchiveLimit, Near: true}, byQueue[b.queue])
	require.False(t, byQueue[b.other].Near)
	require.InDelta(t, 1.0, testutil.ToFloat64(metrics.ArchiveNearLimit.WithLabelValues(b.queue)), 0)
	require.InDelta(t, 0.0, testutil.ToFloat64(metrics.ArchiveNearLimit.WithLabelValues(b.other)), 0)

	// The warning is logged when the queue gets there, not at every check.
	_, err = c.Check()
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(logs.String(), "queue="+b.queue+" "))
	require.Contains(t, logs.String(), "level=WARN")

	_, err = DeleteMatching(b.insp, Filter{Queues: []string{b.queue}})
	require.NoError(t, err)
	_, err = c.Check()
	require.NoError(t, err)
	require.InDelta(t, 0.0, testutil.ToFloat64(metrics.ArchiveNearLimit.WithLabelValues(b.queue)), 0)
	require.Contains(t, logs.String(), "archive back below its warning level")
}

func TestPurge(t *testing.T) {
	t.Parallel()
	b := setup(t)

	before, err := List(b.insp, Filter{Queues: []string{b.queue}})
	require.NoError(t, err)
	require.Len(t, before, 5)

	deleted, err := Purge(b.insp, []string{b.queue, b.other}, Limits{MaxSize: 2}, time.Now())
	require.NoError(t, err)
	require.Equal(t, 3, deleted[b.queue])
	require.Zero(t, deleted[b.other], "a queue within the limit keeps everything")
	after, err := List(b.insp, Filter{Queues: []string{b.queue}})
	require.NoError(t, err)
	require.Equal(t, []string{before[3].ID, before[4].ID}, []string{after[0].ID, after[1].ID},
		"the two most recently archived tasks are kept")

	// Nothing failed more than an hour ago yet; two hours on, all have.
	deleted, err = Purge(b.insp, []string{b.queue, b.other}, Limits{MaxAge: time.Hour}, time.Now())
	require.NoError(t, err)
	require.Zero(t, deleted[b.queue])
	deleted, err = Purge(b.insp, []string{b.queue, b.other}, Limits{MaxAge: time.Hour}, time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, deleted[b.queue])
	require.Equal(t, 1, deleted[b.other])
	require.Zero(t, b.archived(t, b.queue))

	// Deleted tasks leave no hash behind.
	for _, ti := range before {
		_, err := b.insp.GetTaskInfo(b.queue, ti.ID)
		require.ErrorIs(t, err, asynq.ErrTaskNotFound)
	}
}
