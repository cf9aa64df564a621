// Command scheduler runs shopq's periodic jobs (the configuration's
// `schedules`) without a worker. Any number of replicas may run, alongside
// workers started with --scheduler: each slot is enqueued once.
//
//	scheduler [--config FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/internal/schedule"
	"github.com/shopq/shopq/internal/store"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default: ./shopq.yaml or /etc/shopq/shopq.yaml if present)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		return 2
	}
	logger := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)

	rdb, err := redisconn.Open(cfg.Redis.URL)
	if err != nil {
		logger.Error("open redis", slog.String("error", err.Error()))
		return 2
	}
	defer func() { _ = rdb.Close() }()
	client := asynq.NewClientFromRedisClient(rdb)

	// Re-read the file that was found at startup, so an edit applies at the
	// next reload; a file that no longer loads keeps the previous schedules.
	file := cfg.File
	if file == "" {
		file = *path
	}
	s, err := schedule.New(schedule.Options{
		Loader:         func(context.Context) ([]schedule.Entry, error) { return loadEntries(file) },
		Enqueuer:       client,
		Store:          store.New(rdb, cfg.Redis.KeyPrefix, store.Lifetimes{}),
		Logger:         logger,
		ReloadInterval: cfg.Scheduler.ReloadInterval,
	})
	if err != nil {
		logger.Error("scheduler setup failed", slog.String("error", err.Error()))
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := s.Run(ctx); err != nil {
		logger.Error("scheduler failed", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// loadEntries reads the schedules from the configuration file.
func loadEntries(file string) ([]schedule.Entry, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	entries := make([]schedule.Entry, len(cfg.Schedules))
	for i, s := range cfg.Schedules {
		entries[i] = schedule.Entry(s)
	}
	return entries, nil
}
