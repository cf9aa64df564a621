// Command worker runs shopq's task handlers over the configured queues and
// serves the admin HTTP endpoints and web UI.
//
//	worker [--config FILE] [--print-config] [--scheduler]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/logging"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default: ./shopq.yaml or /etc/shopq/shopq.yaml if present)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration, secrets redacted, and exit")
	sched := fs.Bool("scheduler", false, "also run the periodic job scheduler (same as scheduler.enabled)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	if *sched {
		cfg.Scheduler.Enabled = true
	}
	if *printCfg {
		out, err := cfg.YAML()
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 1
		}
		fmt.Print(out)
		return 0
	}

	logger := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	redis.SetLogger(logging.RedisLogger(logger))
	if cfg.File == "" {
		logger.Info("no configuration file used: defaults and SHOPQ_ environment only")
	} else {
		logger.Info("configuration loaded", slog.String("file", cfg.File))
	}

	a, err := app.New(cfg, logger, app.Options{})
	if err != nil {
		logger.Error("worker setup failed", slog.String("error", err.Error()))
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Run(ctx); err != nil {
		logger.Error("worker failed", slog.String("error", err.Error()))
		return 1
	}
	return 0
}
