package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// B03: the permanent classification survives wrapping twice with %w.
func TestPermanentSurvivesWrapping(t *testing.T) {
	err := Permanent(errors.New("invalid payload"))
	wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", err))
	require.True(t, IsPermanent(wrapped))
	require.Equal(t, OutcomeArchived, Outcome(wrapped, 0, 25))
	require.Equal(t, OutcomeRetry, Outcome(errors.New("redis: i/o timeout"), 3, 25))
	require.Equal(t, OutcomeArchived, Outcome(errors.New("redis: i/o timeout"), 25, 25))
	require.Equal(t, OutcomeThrottled, Outcome(fmt.Errorf("x: %w", &ThrottledError{After: time.Second}), 25, 25))
	require.Equal(t, OutcomeSuccess, Outcome(nil, 0, 25))
}

func TestClassifyMarksBadPayloadsPermanent(t *testing.T) {
	_, err := tasks.Decode[tasks.InventoryReservePayload]([]byte(`{"sku":"A","quantity":"two","operation_id":"x"}`))
	require.Error(t, err)
	require.Contains(t, err.Error(), "quantity")
	require.True(t, IsPermanent(Classify(fmt.Errorf("reserve: %w", err))))
	require.True(t, IsPermanent(Classify(fmt.Errorf("%w %q", tasks.ErrUnknownType, "x:y"))))
	require.False(t, IsPermanent(Classify(errors.New("dial tcp: connection refused"))))
}

func TestThrottlingIsNotAFailure(t *testing.T) {
	th := &ThrottledError{After: 3 * time.Second, Reason: "rate"}
	require.False(t, IsFailure(fmt.Errorf("send: %w", th)))
	require.True(t, IsFailure(errors.New("boom")))
	require.Equal(t, 3*time.Second, RetryDelay(7, th, nil))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	prev := time.Duration(0)
	for n := range 8 {
		d := Backoff(n)
		base := 2 * time.Second << n
		require.InDelta(t, float64(base), float64(d), float64(base)/10+1, "retry %d", n)
		require.Greater(t, d, prev/2)
		prev = d
	}
	require.LessOrEqual(t, Backoff(40), 11*time.Minute)
	require.GreaterOrEqual(t, Backoff(40), 9*time.Minute)
}

// One log line per task: id, type, queue, attempt, duration, outcome; never
// the payload. Panics become errors; unknown types are archived.
func TestMiddlewareLogsRecoversAndRejectsUnknownTypes(t *testing.T) {
	var logs testenv.Buffer
	mw := &Middleware{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Known:  func(typ string) bool { return typ != "nosuch:type" },
	}
	h := mw.Wrap(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		if t.Type() == "boom:panic" {
			panic("kaboom")
		}
		return nil
	}))

	secret := `{"email":"zoe@example.test"}`
	require.NoError(t, h.ProcessTask(context.Background(), asynq.NewTask("ok:task", []byte(secret))))
	err := h.ProcessTask(context.Background(), asynq.NewTask("boom:panic", nil))
	require.ErrorContains(t, err, "kaboom")
	require.False(t, IsPermanent(err))
	err = h.ProcessTask(context.Background(), asynq.NewTask("nosuch:type", nil))
	require.True(t, IsPermanent(err))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var finished []map[string]any
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == "task finished" {
			finished = append(finished, m)
		}
	}
	require.Len(t, finished, 3)
	for _, m := range finished {
		for _, k := range []string{"task_id", "task_type", "queue", "attempt", "duration", "outcome"} {
			require.Contains(t, m, k)
		}
	}
	require.Equal(t, OutcomeSuccess, finished[0]["outcome"])
	require.NotContains(t, logs.String(), "zoe@example.test", "payloads are never logged")
}

// B10: a queue over its cap is put back without running, so long tasks of
// one queue never hold every slot.
func TestQueueCapThrottles(t *testing.T) {
	mw := &Middleware{
		Logger: slog.New(slog.DiscardHandler), QueueCaps: map[string]int{"low": 1},
		queueOf: func(context.Context) (string, bool) { return "low", true },
	}
	release := make(chan struct{})
	started := make(chan struct{})
	h := mw.Wrap(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		close(started)
		<-release
		return nil
	}))
	ctx := context.Background()
	done := make(chan error)
	go func() { done <- h.ProcessTask(ctx, asynq.NewTask("slow:task", nil)) }()
	<-started
	err := h.ProcessTask(ctx, asynq.NewTask("slow:task", nil))
	var th *ThrottledError
	require.ErrorAs(t, err, &th)
	require.False(t, IsFailure(err))

	// A type the capped task waits for is never held back.
	mw.Uncapped = map[string]bool{"quick:part": true}
	quick := mw.Wrap(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	require.NoError(t, quick.ProcessTask(ctx, asynq.NewTask("quick:part", nil)))
	close(release)
	require.NoError(t, <-done)
}
