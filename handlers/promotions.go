package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/tasks"
)

// maxEarlyWait is how long a transition task that starts before its bound
// waits in place; asynq keeps due times in whole seconds, so it is never
// early by more than a second unless clocks disagree.
const maxEarlyWait = 2 * time.Second

// Promotions handles promotions:upsert, promotions:cancel,
// promotions:transition and promotions:sweep.
type Promotions struct {
	d Deps
	p *pricing.Pricing
}

// NewPromotions returns the promotion family on d.Store. Upserts schedule
// their transitions through d.Enqueuer.
func NewPromotions(d Deps, opts pricing.Options) *Promotions {
	return &Promotions{d: d, p: pricing.New(d.Store, opts)}
}

// Register adds the promotion task types to mux.
func (h *Promotions) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypePromotionUpsert, h.HandleUpsert)
	mux.HandleFunc(tasks.TypePromotionCancel, h.HandleCancel)
	mux.HandleFunc(tasks.TypePromotionTransition, h.HandleTransition)
	mux.HandleFunc(tasks.TypePromotionSweep, h.HandleSweep)
}

// HandleUpsert stores a promotion, recomputes its SKUs and schedules a
// transition task at each future window bound.
func (h *Promotions) HandleUpsert(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.PromotionUpsertPayload](t)
	if err != nil {
		return err
	}

	out, err := h.p.Upsert(ctx, p, h.d.now())
	if err != nil {
		return fmt.Errorf("upsert promotion %s: %w", p.ID, err)
	}
	if err := h.schedule(ctx, p.ID, p.Version, out.Transitions); err != nil {
		return err
	}
	return WriteResult(t, tasks.PromotionResult{ID: p.ID, Applied: out.Applied, AffectedSKUs: out.Affected})
}

// HandleCancel ends a promotion and restores its SKUs' prices.
func (h *Promotions) HandleCancel(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.PromotionCancelPayload](t)
	if err != nil {
		return err
	}

	out, err := h.p.Cancel(ctx, p.ID, h.d.now())
	if err != nil {
		return fmt.Errorf("cancel promotion %s: %w", p.ID, err)
	}
	return WriteResult(t, tasks.PromotionResult{ID: p.ID, Applied: out.Applied, AffectedSKUs: out.Affected})
}

// HandleTransition recomputes a promotion at one of its bounds. Readers are
// right without it; it stores the effective prices and publishes events.
func (h *Promotions) HandleTransition(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.PromotionTransitionPayload](t)
	if err != nil {
		return err
	}

	at := time.UnixMilli(p.AtMS)
	if early := at.Sub(h.d.now()); early > 0 {
		if early > maxEarlyWait {
			return &Throttled{After: early, Reason: "transition not due"}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(early):
		}
	}

	reason := pricing.ReasonPromotionStart
	if p.Bound == "end" {
		reason = pricing.ReasonPromotionEnd
	}
	out, err := h.p.Recompute(ctx, p.ID, h.d.now(), reason)
	if err != nil {
		return fmt.Errorf("transition promotion %s: %w", p.ID, err)
	}
	return WriteResult(t, tasks.PromotionResult{ID: p.ID, Applied: true, AffectedSKUs: out.Affected})
}

// HandleSweep repairs transitions no transition task handled.
func (h *Promotions) HandleSweep(ctx context.Context, t *asynq.Task) error {
	if _, err := decode[tasks.PromotionSweepPayload](t); err != nil {
		return err
	}

	r, err := h.p.Sweep(ctx, h.d.now())
	if err != nil {
		return fmt.Errorf("sweep promotions: %w", err)
	}
	if h.d.Logger != nil && r.Changed > 0 {
		h.d.Logger.Info("promotion sweep repaired prices", slog.Int("promotions", r.Promotions),
			slog.Int("skus", r.SKUs), slog.Int("changed", r.Changed))
	}
	return WriteResult(t, tasks.PromotionSweepResult{Promotions: r.Promotions, SKUs: r.SKUs, Changed: r.Changed})
}

// schedule enqueues a transition task at each bound, due at the first whole
// second not before it (asynq truncates due times to seconds). The task id
// makes a retried upsert not schedule twice.
func (h *Promotions) schedule(ctx context.Context, id string, version int64, ts []pricing.Transition) error {
	if h.d.Enqueuer == nil {
		return nil
	}
	for _, tr := range ts {
		a := tr.At
		due := a.Truncate(time.Second)
		if due.Before(a) {
			due = due.Add(time.Second)
		}
		task, err := tasks.NewPromotionTransitionTask(
			tasks.PromotionTransitionPayload{ID: id, AtMS: a.UnixMilli(), Bound: tr.Bound},
			asynq.ProcessAt(due),
			asynq.TaskID("promotions:transition:"+id+":"+strconv.FormatInt(a.UnixMilli(), 10)+":"+strconv.FormatInt(version, 10)),
		)
		if err != nil {
			return Permanent(fmt.Errorf("schedule transition of promotion %s: %w", id, err))
		}
		_, err = h.d.Enqueuer.EnqueueContext(ctx, task)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("schedule transition of promotion %s: %w", id, err)
		}
	}
	return nil
}
