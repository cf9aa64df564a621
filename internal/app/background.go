package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/deadletter"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/schedule"
	"github.com/shopq/shopq/internal/ui"
	"github.com/shopq/shopq/tasks"
)

// MaintenanceSchedules are shopq's own periodic jobs, added to the
// configured ones unless an entry of the same name exists.
func MaintenanceSchedules() []schedule.Entry {
	return []schedule.Entry{
		{Name: "shopq-reservations-expire", Cron: "@every 1m", Task: tasks.TypeInventoryExpireSweep},
		{Name: "shopq-promotions-sweep", Cron: "@every 1m", Task: tasks.TypePromotionSweep},
		{Name: "shopq-stock-reconcile", Cron: "@hourly", Task: tasks.TypeInventoryReconcile},
	}
}

// LoadSchedules reads the schedules from a configuration file ("" for
// defaults and environment) and adds the maintenance jobs when enabled.
func LoadSchedules(file string) ([]schedule.Entry, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	return Schedules(cfg), nil
}

// Schedules returns cfg's schedule entries plus, when enabled, the
// maintenance jobs not overridden by name.
func Schedules(cfg *config.Config) []schedule.Entry {
	entries := make([]schedule.Entry, 0, len(cfg.Schedules)+3)
	for _, s := range cfg.Schedules {
		entries = append(entries, schedule.Entry(s))
	}
	if cfg.Scheduler.Maintenance {
		for _, m := range MaintenanceSchedules() {
			if !slices.ContainsFunc(entries, func(e schedule.Entry) bool { return e.Name == m.Name }) {
				entries = append(entries, m)
			}
		}
	}
	return entries
}

// newUI builds the web UI handler, refusing an exposed one without
// credentials.
func (a *App) newUI() error {
	c := a.Cfg
	if !c.UI.Enabled || c.HTTP.Addr == "" {
		return nil
	}
	if err := ui.CheckExposure(c.HTTP.Addr, c.UI.Username, c.UI.Password); err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	h, err := ui.Handler(ui.Options{Redis: a.RDB, Username: c.UI.Username, Password: c.UI.Password, ReadOnly: c.UI.ReadOnly})
	if err != nil {
		return err
	}
	a.readers.ui = h
	return nil
}

// startBackground starts what runs beside the dequeuers: the scheduler
// (when enabled) and the archive watch.
func (a *App) startBackground(ctx context.Context) {
	checker := deadletter.NewChecker(a.Inspector, deadletter.CheckerOptions{
		Logger: a.Logger,
		Limits: deadletter.Limits{MaxSize: a.Cfg.Retention.ArchiveMaxSize, MaxAge: a.Cfg.Retention.ArchiveMaxAge},
	})
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		checker.Run(ctx, 0)
	}()

	if !a.Cfg.Scheduler.Enabled {
		return
	}
	file := a.Cfg.File
	cfg := a.Cfg
	s, err := schedule.New(schedule.Options{
		Loader: func(context.Context) ([]schedule.Entry, error) {
			if file == "" {
				return Schedules(cfg), nil
			}
			return LoadSchedules(file)
		},
		Enqueuer:       a.Client,
		Store:          a.Store,
		Logger:         a.Logger.With(slog.String("component", "scheduler")),
		ReloadInterval: a.Cfg.Scheduler.ReloadInterval,
		CatchUp:        a.Cfg.Scheduler.CatchUp,
	})
	if err != nil {
		a.Logger.Error("scheduler not started", slog.String("error", err.Error()))
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Error("scheduler stopped", slog.String("error", err.Error()))
		}
	}()
}

var queueMetricsOnce sync.Once

// registerQueueMetrics adds asynq's queue sizes to /metrics, once per
// process: the registry is global, and the first worker's inspector serves
// every later one on the same Redis.
func (a *App) registerQueueMetrics() {
	queueMetricsOnce.Do(func() {
		metrics.Registry.MustRegister(metrics.NewQueueCollector(a.Inspector))
	})
}

// checkGroups reports groups waiting in served queues (scenario B12): shopq
// runs no asynq GroupAggregator, and asynq silently keeps grouped tasks in
// "aggregating" for ever without one. It returns the number of groups found.
func (a *App) checkGroups() int {
	total := 0
	for q := range a.Cfg.Worker.Queues {
		groups, err := a.Inspector.Groups(q)
		if err != nil {
			continue // an empty queue may not exist yet
		}
		metrics.UnaggregatedGroups.WithLabelValues(q).Set(float64(len(groups)))
		for _, g := range groups {
			a.Logger.Error("tasks wait in a group that no aggregator releases: shopq does not aggregate groups; "+
				"enqueue without asynq.Group, or run those tasks with enqueue dead/asynqmon",
				slog.String("queue", q), slog.String("group", g.Group), slog.Int("size", g.Size))
		}
		total += len(groups)
	}
	return total
}
