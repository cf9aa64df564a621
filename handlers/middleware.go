package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/tasks"
)

// Outcomes logged and counted per finished task.
const (
	OutcomeSuccess   = "success"
	OutcomeRetry     = "retry"
	OutcomeArchived  = "archived"
	OutcomeThrottled = "throttled"
)

// Middleware is the chain every task passes through, outermost first:
// unknown types are archived, queue caps enforced, panics recovered, errors
// classified, and one log line and metrics recorded per finished attempt.
type Middleware struct {
	Logger *slog.Logger
	// QueueCaps bounds the tasks of a queue running at once in this process.
	QueueCaps map[string]int
	// Uncapped lists task types that QueueCaps never hold back: short tasks
	// that a capped long task waits for (a catalog import waits for its
	// chunks, in the same queue), which would otherwise starve behind it.
	Uncapped map[string]bool
	// Known reports whether a type has a handler; others are archived.
	Known func(taskType string) bool

	mu      sync.Mutex
	running map[string]int
	// queueOf reads the task's queue; tests replace asynq's context lookup.
	queueOf func(ctx context.Context) (string, bool)
}

// Wrap returns h with the middleware chain around it.
func (m *Middleware) Wrap(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		queueOf := m.queueOf
		if queueOf == nil {
			queueOf = asynq.GetQueueName
		}
		queue, _ := queueOf(ctx)
		if created, err := strconv.ParseInt(t.Headers()[tasks.HeaderCreated], 10, 64); err == nil {
			metrics.TaskQueueWait.WithLabelValues(t.Type(), queue).Observe(start.Sub(time.UnixMicro(created)).Seconds())
		}

		err := m.run(ctx, h, t, queue)
		err = Classify(err)

		m.finish(ctx, t, queue, start, err)
		return err
	})
}

func (m *Middleware) run(ctx context.Context, h asynq.Handler, t *asynq.Task, queue string) (err error) {
	if m.Known != nil && !m.Known(t.Type()) {
		return Permanent(fmt.Errorf("%w %q: no handler on this worker", tasks.ErrUnknownType, t.Type()))
	}
	if !m.Uncapped[t.Type()] {
		if !m.acquire(queue) {
			return &ThrottledError{After: time.Second, Reason: "queue " + queue + " at its concurrency cap"}
		}
		defer m.release(queue)
	}

	defer func() {
		if r := recover(); r != nil {
			m.Logger.Error("task panicked", slog.String("task_type", t.Type()),
				slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return h.ProcessTask(ctx, t)
}

func (m *Middleware) acquire(queue string) bool {
	limit, capped := m.QueueCaps[queue]
	if !capped {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = map[string]int{}
	}
	if m.running[queue] >= limit {
		return false
	}
	m.running[queue]++
	return true
}

func (m *Middleware) release(queue string) {
	if _, capped := m.QueueCaps[queue]; !capped {
		return
	}
	m.mu.Lock()
	m.running[queue]--
	m.mu.Unlock()
}

func (m *Middleware) finish(ctx context.Context, t *asynq.Task, queue string, start time.Time, err error) {
	d := time.Since(start)
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	outcome := Outcome(err, retried, maxRetry)

	metrics.TaskDuration.WithLabelValues(t.Type(), queue).Observe(d.Seconds())
	metrics.TasksProcessed.WithLabelValues(t.Type(), queue, outcome).Inc()
	if outcome == OutcomeRetry {
		metrics.TasksRetried.WithLabelValues(t.Type(), queue).Inc()
	}

	attrs := []slog.Attr{
		slog.String("task_id", id), slog.String("task_type", t.Type()), slog.String("queue", queue),
		slog.Int("attempt", retried+1), slog.String("duration", d.String()), slog.String("outcome", outcome),
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if outcome == OutcomeArchived {
		level = slog.LevelWarn
	}
	m.Logger.LogAttrs(ctx, level, "task finished", attrs...)
}

// Outcome names what asynq will do with a task that returned err.
func Outcome(err error, retried, maxRetry int) string {
	var th *ThrottledError
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.As(err, &th):
		return OutcomeThrottled
	case IsPermanent(err) || retried >= maxRetry:
		return OutcomeArchived
	}
	return OutcomeRetry
}

// Classify marks errors that can never succeed on retry as permanent: an
// invalid payload (tasks.FieldError) or an unknown type. Unknown entities
// are the handler's call (a commit may arrive before its reservation).
func Classify(err error) error {
	var fe *tasks.FieldError
	switch {
	case err == nil, IsPermanent(err):
		return err
	case errors.As(err, &fe), errors.Is(err, tasks.ErrUnknownType):
		return Permanent(err)
	}
	return err
}

// IsFailure is asynq's Config.IsFailure: throttling is not a failure, so it
// neither uses up a retry nor counts in the queue's failure statistics.
func IsFailure(err error) bool {
	var th *ThrottledError
	return !errors.As(err, &th)
}

// RetryDelay is asynq's Config.RetryDelayFunc: a throttled task waits as
// long as it asked; other failures back off exponentially from 2 s, capped
// at 10 minutes, with ±10 % jitter so retries do not arrive in lockstep.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var th *ThrottledError
	if errors.As(err, &th) {
		return th.After
	}
	return Backoff(n)
}

// Backoff returns the delay before retry n+1.
func Backoff(n int) time.Duration {
	const base, ceiling = 2 * time.Second, 10 * time.Minute
	d := ceiling
	if n < 20 {
		d = min(base<<n, ceiling)
	}
	jitter := 0.9 + 0.2*rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	return time.Duration(float64(d) * jitter)
}

// ArchiveReporter is asynq's Config.ErrorHandler: it logs and counts a
// task exactly once when asynq archives it, since asynq has no hook of its
// own for that.
func ArchiveReporter(l *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		if Outcome(err, retried, maxRetry) != OutcomeArchived {
			return
		}
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		reason := "exhausted"
		if IsPermanent(err) {
			reason = "permanent"
		}
		metrics.TasksArchived.WithLabelValues(t.Type(), queue, reason).Inc()
		l.Warn("task archived", slog.String("task_id", id), slog.String("task_type", t.Type()),
			slog.String("queue", queue), slog.String("reason", reason), slog.String("error", err.Error()))
	})
}
