package deadletter

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/metrics"
)

// Defaults of Checker.
const (
	DefaultWarnRatio = 0.8
	DefaultInterval  = 5 * time.Minute
)

// Fill is how full one queue's archive is.
type Fill struct {
	Queue    string
	Archived int
	// Ratio is Archived / metrics.AsynqArchiveLimit.
	Ratio float64
	// Near is set when Ratio is at or above the warning ratio.
	Near bool
}

// CheckerOptions configure a Checker.
type CheckerOptions struct {
	// Logger receives the warnings. Default: discard.
	Logger *slog.Logger
	// WarnRatio is the share of asynq's archive limit to warn at.
	// Default: 0.8.
	WarnRatio float64
	// Limits, when set, are enforced by Run before each check.
	Limits Limits
}

// Checker warns before an archive reaches asynq's limit and, with Limits,
// keeps archives within them.
type Checker struct {
	insp *asynq.Inspector
	log  *slog.Logger
	opts CheckerOptions
	// near remembers which queues were near the limit, so the warning is
	// logged when a queue gets there, not at every check.
	near map[string]bool
}

// NewChecker returns a Checker over insp.
func NewChecker(insp *asynq.Inspector, opts CheckerOptions) *Checker {
	if opts.WarnRatio <= 0 {
		opts.WarnRatio = DefaultWarnRatio
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{insp: insp, log: opts.Logger, opts: opts, near: map[string]bool{}}
}

// Check reads every queue's archive size, sets shopq_queue_archive_near_limit
// and logs a warning for each queue that has just passed the warning ratio.
func (c *Checker) Check() ([]Fill, error) {
	qs, err := c.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	sort.Strings(qs)

	fills := make([]Fill, 0, len(qs))
	for _, q := range qs {
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			return fills, fmt.Errorf("queue %s: %w", q, err)
		}
		ratio := float64(info.Archived) / metrics.AsynqArchiveLimit
		f := Fill{Queue: q, Archived: info.Archived, Ratio: ratio, Near: ratio >= c.opts.WarnRatio}
		fills = append(fills, f)
		c.report(f)
	}
	return fills, nil
}

func (c *Checker) report(f Fill) {
	if !f.Near {
		metrics.ArchiveNearLimit.WithLabelValues(f.Queue).Set(0)
		if c.near[f.Queue] {
			c.log.Info("archive back below its warning level", slog.String("queue", f.Queue),
				slog.Int("archived", f.Archived))
			delete(c.near, f.Queue)
		}
		return
	}
	metrics.ArchiveNearLimit.WithLabelValues(f.Queue).Set(1)
	if !c.near[f.Queue] {
		c.log.Warn("archive close to asynq's limit: past it the oldest dead letters are dropped; "+
			"re-run or delete them (enqueue dead list|run|delete)",
			slog.String("queue", f.Queue), slog.Int("archived", f.Archived), slog.Int("limit", metrics.AsynqArchiveLimit))
		c.near[f.Queue] = true
	}
}

// Run checks every interval (DefaultInterval when <= 0) until ctx ends.
func (c *Checker) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.purge()
		if _, err := c.Check(); err != nil {
			c.log.Warn("check archive sizes", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purge enforces the configured limits, if any.
func (c *Checker) purge() {
	deleted, err := Purge(c.insp, nil, c.opts.Limits, time.Now())
	for q, n := range deleted {
		c.log.Info("archived tasks purged", slog.String("queue", q), slog.Int("deleted", n),
			slog.Int("max_size", c.opts.Limits.MaxSize), slog.Duration("max_age", c.opts.Limits.MaxAge))
	}
	if err != nil {
		c.log.Warn("purge archived tasks", slog.String("error", err.Error()))
	}
}
