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

// Checker warns before an archive reaches asynq's limit.
type Checker struct {
	insp      *asynq.Inspector
	log       *slog.Logger
	warnRatio float64
	// near remembers which queues were near the limit, so the warning is
	// logged when a queue gets there, not at every check.
	near map[string]bool
}

// NewChecker returns a Checker; warnRatio <= 0 means DefaultWarnRatio.
func NewChecker(insp *asynq.Inspector, logger *slog.Logger, warnRatio float64) *Checker {
	if warnRatio <= 0 {
		warnRatio = DefaultWarnRatio
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{insp: insp, log: logger, warnRatio: warnRatio, near: map[string]bool{}}
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
		f := Fill{Queue: q, Archived: info.Archived, Ratio: ratio, Near: ratio >= c.warnRatio}
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
