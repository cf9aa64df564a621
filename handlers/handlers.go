// Package handlers runs shopq's task types: one file per family, plus the
// middleware every task passes through.
//
// The returned error is the whole contract with asynq:
//
//   - nil: done; the result written with WriteResult is kept for --wait.
//   - Permanent(err): archived at once with its reason (malformed payload,
//     unknown entity, SMTP 5xx). Never retried.
//   - &ThrottledError{After: d}: not a failure; rescheduled after d without using
//     up a retry.
//   - any other error: transient; retried with backoff.
//
// Delivery is at least once: every handler is safe to run twice.
package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Enqueuer is what handlers use to enqueue follow-up tasks; *asynq.Client
// satisfies it.
type Enqueuer = tasks.Enqueuer

// Deps are the shared dependencies of every family.
type Deps struct {
	Store    *store.Store
	Enqueuer Enqueuer
	Logger   *slog.Logger
	// Now is the clock; tests inject one. Default: time.Now.
	Now func() time.Time
	// Operators receive operator mail (low stock, import reports).
	Operators []string
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Permanent marks err as not worth retrying: asynq archives the task at once
// with err as its reason.
func Permanent(err error) error {
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		return err
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return errors.Is(err, asynq.SkipRetry) }

// ThrottledError asks for the task to run again after After, without
// counting as a failure or using up a retry.
type ThrottledError struct {
	After  time.Duration
	Reason string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled (%s): retry in %v", e.Reason, e.After)
}

// decode parses a payload into P; a bad payload is permanent.
func decode[P any, PP interface {
	*P
	tasks.Validator
}](t *asynq.Task) (P, error) {
	p, err := tasks.Decode[P, PP](t.Payload())
	if err != nil {
		return p, Permanent(fmt.Errorf("invalid payload: %w", err))
	}
	return p, nil
}

// WriteResult keeps v as the task's result (printed by `enqueue --wait`).
func WriteResult(t *asynq.Task, v any) error {
	w := t.ResultWriter()
	if w == nil {
		return nil // called outside a server, e.g. in a unit test
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Throttled is a short name for ThrottledError.
type Throttled = ThrottledError //nolint:errname // alias of ThrottledError, kept short for handlers
