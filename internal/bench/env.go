package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/tasks"
)

// TypeNoop is the benchmark's task type: its handler does nothing.
const TypeNoop = "bench:noop"

// Env is what every figure runs against: one Redis database and a scratch
// directory.
type Env struct {
	RedisURL string
	// RDB is the benchmark's own client: INFO snapshots and flushes.
	RDB redis.UniversalClient
	// Producer enqueues the tasks a run processes.
	Producer *asynq.Client
	Dir      string
	Log      func(format string, args ...any)
}

// NewEnv connects to redisURL; dir holds outboxes, feeds and logs.
func NewEnv(redisURL, dir string) (*Env, error) {
	rdb, err := redisconn.Open(redisURL)
	if err != nil {
		return nil, err
	}
	prod, err := redisconn.Open(redisURL)
	if err != nil {
		return nil, err
	}
	return &Env{RedisURL: redisURL, RDB: rdb, Producer: asynq.NewClientFromRedisClient(prod), Dir: dir,
		Log: func(string, ...any) {}}, nil
}

// Close closes the clients.
func (e *Env) Close() {
	_ = e.Producer.Close()
	_ = e.RDB.Close()
}

// Flush empties the database between runs. asynq's clients remember the
// queues they registered in asynq:queues, so the queues are registered
// again here for the inspector to find them.
func (e *Env) Flush(ctx context.Context) error {
	if err := e.RDB.FlushDB(ctx).Err(); err != nil {
		return err
	}
	return e.RDB.SAdd(ctx, "asynq:queues", tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow).Err()
}

// noopTask is the task of the no-op figures; it carries shopq's creation
// header so that shopq's middleware does its queue-wait work.
func noopTask(payload []byte) *asynq.Task {
	return asynq.NewTaskWithHeaders(TypeNoop, payload,
		map[string]string{tasks.HeaderCreated: strconv.FormatInt(time.Now().UnixMicro(), 10)},
		asynq.Queue(tasks.QueueDefault))
}

// prefill enqueues n tasks from 32 goroutines sharing the producer.
func (e *Env) prefill(ctx context.Context, n int, mk func(i int) (*asynq.Task, error)) error {
	const workers = 32
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t, err := mk(i)
				if err == nil {
					_, err = e.Producer.EnqueueContext(ctx, t)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	return nil
}

// counter is a handler that counts calls and notes when the count passes
// two marks, so a rate can be taken over the steady middle of a run.
type counter struct {
	n        atomic.Int64
	lo, hi   int64
	total    int64
	tLo, tHi atomic.Int64
	done     chan struct{}
	once     sync.Once
	onStart  func(t *asynq.Task)
}

func newCounter(total int) *counter {
	return &counter{lo: int64(total / 10), hi: int64(total * 9 / 10), total: int64(total), done: make(chan struct{})}
}

func (c *counter) ProcessTask(_ context.Context, t *asynq.Task) error {
	if c.onStart != nil {
		c.onStart(t)
	}
	v := c.n.Add(1)
	now := time.Now().UnixNano()
	switch v {
	case c.lo:
		c.tLo.Store(now)
	case c.hi:
		c.tHi.Store(now)
	}
	if v >= c.total {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// rate is tasks/s between the marks.
func (c *counter) rate() float64 {
	d := time.Duration(c.tHi.Load() - c.tLo.Load())
	if d <= 0 {
		return 0
	}
	return float64(c.hi-c.lo) / d.Seconds()
}

func (c *counter) wait(ctx context.Context, limit time.Duration) error {
	select {
	case <-c.done:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("%d of %d tasks after %v: %w", c.n.Load(), c.total, limit, errTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// worker is a running set of dequeuers.
type worker interface{ stop() }

// bareWorker is n plain asynq servers sharing one Redis client, as a user
// writing their own handlers would run them.
type bareWorker struct {
	rdb     redis.UniversalClient
	servers []*asynq.Server
}

func (e *Env) startBare(n int, cfg asynq.Config, h asynq.Handler) (*bareWorker, error) {
	rdb, err := redisconn.Open(e.RedisURL)
	if err != nil {
		return nil, err
	}
	if cfg.LogLevel == 0 {
		cfg.LogLevel = asynq.WarnLevel
	}
	w := &bareWorker{rdb: rdb}
	for i := range n {
		srv := asynq.NewServerFromRedisClient(rdb, cfg)
		if err := srv.Start(h); err != nil {
			w.stop()
			return nil, fmt.Errorf("start bare server %d: %w", i+1, err)
		}
		w.servers = append(w.servers, srv)
	}
	return w, nil
}

func (w *bareWorker) stop() {
	var wg sync.WaitGroup
	for _, s := range w.servers {
		wg.Go(s.Shutdown)
	}
	wg.Wait()
	_ = w.rdb.Close()
}

// bareConfig is a plain asynq server with shopq's concurrency and queues
// and nothing else of shopq's.
func bareConfig(concurrency int, tci time.Duration) asynq.Config {
	return asynq.Config{Concurrency: concurrency, Queues: tasks.DefaultQueues(), TaskCheckInterval: tci}
}

// shopqWorker is shopq's worker as cmd/worker builds it.
type shopqWorker struct {
	app *app.App
	log *os.File
}

// shopqOpts adjusts the worker's configuration for one run.
type shopqOpts struct {
	Dequeuers         int
	TaskCheckInterval time.Duration
	Extra             map[string]asynq.Handler
	// LogLevel overrides log.level ("warn" drops the per-task line).
	LogLevel string
}

// newShopq builds shopq's worker from its default configuration with the
// benchmark's Redis, no admin server, mail to a file outbox without the
// rate limit, and logs (at the default level, info) to a file.
func (e *Env) newShopq(o shopqOpts) (*shopqWorker, error) {
	cfg, err := config.Load("")
	if err != nil {
		return nil, err
	}
	cfg.Redis.URL = e.RedisURL
	cfg.HTTP.Addr = ""
	if o.Dequeuers > 0 {
		cfg.Worker.Dequeuers = o.Dequeuers
	}
	if o.TaskCheckInterval > 0 {
		cfg.Worker.TaskCheckInterval = o.TaskCheckInterval
	}
	if o.LogLevel != "" {
		cfg.Log.Level = o.LogLevel
	}
	cfg.Mail.Transport = "file"
	cfg.Mail.OutboxDir = filepath.Join(e.Dir, "outbox")
	cfg.Mail.RatePerSecond = 0
	cfg.Catalog.WorkDir = filepath.Join(e.Dir, "catalog-work")
	if err := os.MkdirAll(cfg.Mail.OutboxDir, 0o750); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Catalog.WorkDir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(e.Dir, "worker.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	logger := logging.New(f, cfg.Log.Level, cfg.Log.Format)
	a, err := app.New(cfg, logger, app.Options{ExtraHandlers: o.Extra})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &shopqWorker{app: a, log: f}, nil
}

func (w *shopqWorker) start(ctx context.Context) error {
	if err := w.app.Start(ctx); err != nil {
		_ = w.log.Close()
		return err
	}
	return nil
}

func (w *shopqWorker) stop() {
	w.app.Shutdown()
	_ = w.log.Close()
}

// startShopq builds and starts shopq's worker.
func (e *Env) startShopq(ctx context.Context, o shopqOpts) (*shopqWorker, error) {
	w, err := e.newShopq(o)
	if err != nil {
		return nil, err
	}
	return w, w.start(ctx)
}
