// Command scheduler runs shopq's periodic jobs (the configuration's
// `schedules`) without a worker. Any number of replicas may run, alongside
// workers started with --scheduler: each slot is enqueued once.
//
//	scheduler [--config FILE] [--metrics-addr 127.0.0.1:9091] [--check]
//
// --check validates every schedule entry, prints one line each and exits 1
// when any is broken; --metrics-addr serves /metrics (the shopq_schedule_*
// series) on that address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/metrics"
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
	check := fs.Bool("check", false, "validate the schedule entries and exit")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics on this address (default: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		return 2
	}
	if *check {
		return checkEntries(cfg, os.Stdout)
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
		Loader: func(context.Context) ([]schedule.Entry, error) {
			if file == "" {
				return app.Schedules(cfg), nil
			}
			return app.LoadSchedules(file)
		},
		Enqueuer:       client,
		Store:          store.New(rdb, cfg.Redis.KeyPrefix, store.Lifetimes{}),
		Logger:         logger,
		ReloadInterval: cfg.Scheduler.ReloadInterval,
		CatchUp:        cfg.Scheduler.CatchUp,
	})
	if err != nil {
		logger.Error("scheduler setup failed", slog.String("error", err.Error()))
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *metricsAddr != "" {
		if err := serveMetrics(ctx, *metricsAddr, logger); err != nil {
			logger.Error("serve metrics", slog.String("error", err.Error()))
			return 2
		}
	}
	if err := s.Run(ctx); err != nil {
		logger.Error("scheduler failed", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// checkEntries prints each entry's verdict; it returns 1 if any is broken.
func checkEntries(cfg *config.Config, out io.Writer) int {
	code := 0
	for i, s := range app.Schedules(cfg) {
		if err := schedule.Check(s); err != nil {
			fmt.Fprintf(out, "schedules[%d] %s: %v\n", i, s.Name, err)
			code = 1
			continue
		}
		fmt.Fprintf(out, "schedules[%d] %s: ok\n", i, s.Name)
	}
	return code
}

// serveMetrics serves /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", slog.String("error", err.Error()))
		}
	}()
	logger.Info("serving metrics", slog.String("addr", ln.Addr().String()))
	return nil
}
