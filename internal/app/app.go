// Package app wires shopq's worker from its configuration: the Redis
// connection shared by queues and store, the families' handlers behind the
// middleware, one or more asynq servers, and the admin HTTP server.
// cmd/worker, the demo and the end-to-end tests all run this same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/admin"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// Options adjusts the wiring for tests and the demo.
type Options struct {
	// Now is the clock handed to the families. Default: time.Now.
	Now func() time.Time
	// ExtraHandlers are registered beside the families (benchmarks, tests).
	ExtraHandlers map[string]asynq.Handler
}

// App is a configured worker.
type App struct {
	Cfg       *config.Config
	Logger    *slog.Logger
	RDB       redis.UniversalClient
	Store     *store.Store
	Client    *asynq.Client
	Inspector *asynq.Inspector

	mux     *asynq.ServeMux
	handler asynq.Handler
	readers readers
	servers []*asynq.Server
	http    *http.Server
	httpLn  net.Listener
	closers []func() error
	stopBg  context.CancelFunc
	bg      sync.WaitGroup
}

type readers struct {
	product, stock, price admin.ReadFunc
	ui                    http.Handler
}

// New builds the worker; it connects to nothing until Start.
func New(cfg *config.Config, logger *slog.Logger, opts Options) (*App, error) {
	rdb, err := redisconn.Open(cfg.Redis.URL)
	if err != nil {
		return nil, err
	}
	st := store.New(rdb, cfg.Redis.KeyPrefix, store.Lifetimes{
		Ledger: cfg.Retention.Ledger, MailEffect: cfg.Retention.MailEffects,
		Runs: cfg.Retention.Runs, Chunks: cfg.Retention.Chunks,
	})
	a := &App{
		Cfg: cfg, Logger: logger, RDB: rdb, Store: st,
		Client:    asynq.NewClientFromRedisClient(rdb),
		Inspector: asynq.NewInspectorFromRedisClient(rdb),
		mux:       asynq.NewServeMux(),
	}
	deps := handlers.Deps{Store: st, Enqueuer: a.Client, Logger: logger, Now: opts.Now, Operators: cfg.Mail.Operators}
	if err := a.wireFamilies(deps); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if err := a.newUI(); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	for typ, h := range opts.ExtraHandlers {
		a.mux.Handle(typ, h)
	}
	mw := &handlers.Middleware{
		Logger:    logger,
		QueueCaps: cfg.Worker.QueueConcurrency,
		Uncapped:  map[string]bool{tasks.TypeCatalogChunk: true},
		Known: func(typ string) bool {
			_, pattern := a.mux.Handler(asynq.NewTask(typ, nil))
			return pattern != ""
		},
	}
	a.handler = mw.Wrap(a.mux)
	return a, nil
}

// Handler returns the wrapped task handler (the middleware around every
// family), for tests that drive tasks without a server.
func (a *App) Handler() asynq.Handler { return a.handler }

// ServerConfig returns the asynq configuration of one dequeuer.
func (a *App) ServerConfig() asynq.Config {
	w := a.Cfg.Worker
	return asynq.Config{
		Concurrency:              w.Concurrency,
		Queues:                   w.Queues,
		StrictPriority:           w.StrictPriority,
		ShutdownTimeout:          w.ShutdownTimeout,
		TaskCheckInterval:        w.TaskCheckInterval,
		DelayedTaskCheckInterval: w.DelayedTaskCheckInterval,
		RetryDelayFunc:           handlers.RetryDelay,
		IsFailure:                handlers.IsFailure,
		ErrorHandler:             handlers.ArchiveReporter(a.Logger),
		Logger:                   logging.Asynq(a.Logger),
		LogLevel:                 logging.AsynqLevel(a.Cfg.Log.Level),
		HealthCheckFunc: func(err error) {
			if err != nil {
				a.Logger.Error("redis unreachable", slog.String("error", err.Error()))
			}
		},
	}
}

// Start checks Redis, then starts the dequeuers and the admin server.
func (a *App) Start(ctx context.Context) error {
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.Store.Ping(pingCtx); err != nil {
		return fmt.Errorf("redis %s: %w", redisconn.Redact(a.Cfg.Redis.URL), err)
	}
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopBg = stop
	a.registerQueueMetrics()
	a.checkGroups()
	if err := a.startHTTP(); err != nil {
		return err
	}
	for i := 0; i < a.Cfg.Worker.Dequeuers; i++ {
		srv := asynq.NewServerFromRedisClient(a.RDB, a.ServerConfig())
		if err := srv.Start(a.handler); err != nil {
			a.Shutdown()
			return fmt.Errorf("start dequeuer %d: %w", i+1, err)
		}
		a.servers = append(a.servers, srv)
	}
	a.startBackground(bgCtx)
	a.Logger.Info("worker started", slog.Int("dequeuers", len(a.servers)),
		slog.Int("concurrency", a.Cfg.Worker.Concurrency), slog.String("http_addr", a.HTTPAddr()),
		slog.String("redis", redisconn.Redact(a.Cfg.Redis.URL)))
	return nil
}

// HTTPAddr is the admin server's address once started ("" when off).
func (a *App) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

func (a *App) startHTTP() error {
	if a.Cfg.HTTP.Addr == "" {
		return nil
	}
	h := admin.Handler(admin.Options{
		Ping:    a.Store.Ping,
		Product: a.readers.product, Stock: a.readers.stock, Price: a.readers.price,
		Metrics: promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}),
		UI:      a.readers.ui,
		Logger:  a.Logger,
	})
	ln, err := net.Listen("tcp", a.Cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("admin http %s: %w", a.Cfg.HTTP.Addr, err)
	}
	a.httpLn = ln
	a.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Logger.Error("admin http stopped", slog.String("error", err.Error()))
		}
	}()
	return nil
}

// Shutdown stops taking tasks, lets running ones finish within
// worker.shutdown_timeout (asynq hands unfinished ones back to pending),
// then closes everything.
func (a *App) Shutdown() {
	if a.stopBg != nil {
		a.stopBg()
	}
	var wg sync.WaitGroup
	for _, srv := range a.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Shutdown()
		}()
	}
	wg.Wait()
	a.servers = nil
	a.bg.Wait()
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.http.Shutdown(ctx)
		cancel()
		a.http = nil
	}
	for _, c := range a.closers {
		_ = c()
	}
	a.closers = nil
	_ = a.Inspector.Close()
	_ = a.RDB.Close()
}

// Run starts the worker and blocks until ctx is done, then shuts down.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.Logger.Info("shutting down", slog.String("shutdown_timeout", a.Cfg.Worker.ShutdownTimeout.String()))
	a.Shutdown()
	a.Logger.Info("worker stopped")
	return nil
}
