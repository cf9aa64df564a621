package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/tasks"
)

// leaseMargin is added to a send's time budget for the effect lease, so a
// lease never ends while its worker may still be sending.
const leaseMargin = 10 * time.Second

// maxBusyWait bounds how long a task waits when another worker holds its
// effect key's lease: that worker usually finishes within a second.
const maxBusyWait = 5 * time.Second

// Mail runs mail:send.
type Mail struct {
	deps Deps
	m    *mailer.Mailer
}

// NewMail returns the mail family; m is shared by every worker goroutine
// (it holds the SMTP session pool).
func NewMail(d Deps, m *mailer.Mailer) *Mail {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Mail{deps: d, m: m}
}

// Register adds mail:send to mux.
func (h *Mail) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypeMailSend, h.HandleSend)
}

// HandleSend sends one mail per effect key: check the effect record (and
// take a lease on it), wait for the rate limit, render, send, record.
//
// A duplicate is a completed task with Duplicate set. A rate-limited or
// busy key is Throttled (no retry used up). A 5xx, an invalid address or a
// template that does not render is Permanent with the server's reply; a
// 4xx, a timeout or a dropped connection is retried.
func (h *Mail) HandleSend(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.MailSendPayload](t)
	if err != nil {
		return err
	}

	claim, err := h.m.Claim(ctx, p.EffectKey, h.lease(ctx))
	if err != nil {
		return fmt.Errorf("mail %s: %w", p.EffectKey, err)
	}
	switch {
	case claim.Duplicate:
		metrics.DuplicateMailsSuppressed.Inc()
		return WriteResult(t, tasks.MailResult{Duplicate: true, MessageID: claim.MessageID})
	case !claim.Held():
		return &Throttled{After: min(claim.Busy, maxBusyWait), Reason: "effect key in flight on another worker"}
	}

	id, err := h.send(ctx, p)
	if err != nil {
		h.release(ctx, claim)
		return err
	}
	h.record(ctx, claim, p.EffectKey, id)
	return WriteResult(t, tasks.MailResult{Sent: true, MessageID: id})
}

// send runs the steps that may fail after the claim: rate limit, render,
// send. Errors come back classified.
func (h *Mail) send(ctx context.Context, p tasks.MailSendPayload) (string, error) {
	wait, err := h.m.Allow(ctx)
	if err != nil {
		return "", fmt.Errorf("mail %s: %w", p.EffectKey, err)
	}
	if wait > 0 {
		return "", &Throttled{After: wait, Reason: "mail rate limit"}
	}

	r, err := h.m.Render(p.Template, p.Data)
	if err != nil {
		return "", Permanent(fmt.Errorf("mail %s: %w", p.EffectKey, err))
	}
	msg, id, err := h.m.Compose(p.To, r, p.EffectKey, h.deps.now())
	if err != nil {
		return "", Permanent(fmt.Errorf("mail %s: %w", p.EffectKey, err))
	}

	err = h.m.Send(ctx, msg)
	if d, ok := mailer.PausedFor(err); ok {
		return "", &Throttled{After: d, Reason: err.Error()}
	}
	switch {
	case err == nil:
		return id, nil
	case mailer.IsPermanent(err):
		return "", Permanent(fmt.Errorf("mail %s: %w", p.EffectKey, err))
	}
	return "", fmt.Errorf("mail %s: %w", p.EffectKey, err)
}

// lease is how long this attempt may hold the effect key: until the task's
// deadline (which also bounds the send), plus a margin.
func (h *Mail) lease(ctx context.Context) time.Duration {
	o := h.m.Options().SMTP
	budget := o.DialTimeout + o.SendTimeout
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl)
	}
	return max(budget, time.Second) + leaseMargin
}

func (h *Mail) release(ctx context.Context, c mailer.Claim) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := h.m.Release(rctx, c); err != nil {
		h.deps.Logger.Info("mail lease not released; it expires by itself", slog.String("error", err.Error()))
	}
}

// record writes the effect record after the server accepted the mail. It
// tries a few times outside the task's context: once the mail is out, a
// retry of the task would send a second copy, so a record that cannot be
// written is logged, not returned. The lease then keeps a duplicate task
// away until it expires.
func (h *Mail) record(ctx context.Context, c mailer.Claim, key, id string) {
	var err error
	for attempt := range 3 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err = h.m.Record(rctx, c, id)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	h.deps.Logger.Error("mail sent but effect record not written; a duplicate task may resend it",
		slog.String("effect_key", key), slog.String("error", err.Error()))
}
