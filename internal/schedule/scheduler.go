package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/store"
)

// Defaults of Options.
const (
	DefaultReloadInterval = 10 * time.Second
	DefaultCatchUp        = time.Minute
	// MinCatchUp is the least lateness tolerated: a scheduler paused by GC,
	// a slow Redis call or a busy machine must not skip the slot it was
	// about to fire.
	MinCatchUp = 10 * time.Second
	// claimSlack keeps claims past the catch-up window, so replicas whose
	// clocks differ by less than this still see each other's claims.
	claimSlack = 10 * time.Minute
	// retryAfter spaces retries of a slot whose claim or enqueue failed.
	retryAfter = time.Second
)

// Loader returns the current schedule entries; the scheduler calls it every
// reload interval.
type Loader func(ctx context.Context) ([]Entry, error)

// Enqueuer enqueues a task; *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Options configure a Scheduler.
type Options struct {
	// Loader supplies the entries. Required.
	Loader Loader
	// Enqueuer writes the tasks. Required.
	Enqueuer Enqueuer
	// Store holds the slot claims. Required.
	Store *store.Store
	// Logger receives one line per enqueue and per problem. Default: discard.
	Logger *slog.Logger
	// ReloadInterval is how often Loader is called. Default: 10s.
	ReloadInterval time.Duration
	// CatchUp is the most a slot may be late and still run; see the
	// package doc. Default: 1m; never less than MinCatchUp.
	CatchUp time.Duration
	// NowFunc returns the current time. Default: time.Now.
	NowFunc func() time.Time
}

// Scheduler enqueues the entries' tasks at their slots.
type Scheduler struct {
	opts   Options
	log    *slog.Logger
	id     string
	states map[string]*state
	// invalid holds the error last reported per broken entry name, so a
	// broken entry is logged once, not at every reload.
	invalid map[string]string
	loadErr string
}

// state is one running entry.
type state struct {
	c *compiled
	// cursor is the latest instant whose slots are done (or given up).
	cursor time.Time
	// failing is set while the slot after cursor could not be enqueued.
	failing bool
}

// New checks opts and returns a Scheduler; Run starts it.
func New(opts Options) (*Scheduler, error) {
	if opts.Loader == nil || opts.Enqueuer == nil || opts.Store == nil {
		return nil, errors.New("schedule: Loader, Enqueuer and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if opts.CatchUp == 0 {
		opts.CatchUp = DefaultCatchUp
	}
	opts.CatchUp = max(opts.CatchUp, MinCatchUp)
	if opts.NowFunc == nil {
		opts.NowFunc = time.Now
	}

	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Scheduler{
		opts:    opts,
		log:     opts.Logger.With(slog.String("component", "scheduler")),
		id:      hex.EncodeToString(b),
		states:  map[string]*state{},
		invalid: map[string]string{},
	}, nil
}

// Run fires the entries' slots until ctx ends; it returns nil then. Call it
// once per Scheduler; run more Schedulers (in this or other processes) for
// redundancy.
func (s *Scheduler) Run(ctx context.Context) error {
	now := s.opts.NowFunc()
	s.reload(ctx, now, true)
	nextReload := now.Add(s.opts.ReloadInterval)
	s.log.Info("scheduler started", slog.String("scheduler_id", s.id), slog.Int("entries", len(s.states)))

	for {
		now = s.opts.NowFunc()
		if !now.Before(nextReload) {
			s.reload(ctx, now, false)
			nextReload = now.Add(s.opts.ReloadInterval)
		}
		s.tick(ctx, now)

		wait := s.nextWake(now, nextReload).Sub(s.opts.NowFunc())
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			s.log.Info("scheduler stopped", slog.String("scheduler_id", s.id))
			return nil
		case <-timer.C:
		}
	}
}

// nextWake returns when the loop has something to do next.
func (s *Scheduler) nextWake(now, nextReload time.Time) time.Time {
	wake := nextReload
	for _, st := range s.states {
		if st.failing {
			wake = minTime(wake, now.Add(retryAfter))
			continue
		}
		if next := st.c.slots.Next(maxTime(st.cursor, now)); !next.IsZero() {
			wake = minTime(wake, next)
		}
	}
	return wake
}

// reload replaces the entries with the loader's. Unchanged entries keep
// their cursor; new and changed ones start at now (or, on startup, look
// back CatchUp for a missed slot).
func (s *Scheduler) reload(ctx context.Context, now time.Time, startup bool) {
	entries, err := s.opts.Loader(ctx)
	if err != nil {
		if msg := err.Error(); msg != s.loadErr {
			s.loadErr = msg
			s.log.Warn("load schedules; keeping the previous ones", slog.String("error", msg))
		}
		scheduleErrors.WithLabelValues("", reasonLoad).Inc()
		return
	}
	s.loadErr = ""

	start := now
	if startup {
		start = now.Add(-s.opts.CatchUp)
	}
	next := make(map[string]*state, len(entries))
	invalid := map[string]string{}
	for _, e := range entries {
		c, err := compile(e)
		if err == nil && next[e.Name] != nil {
			err = errors.New("name: used by an earlier entry")
		}
		if err != nil {
			invalid[e.Name] = err.Error()
			continue
		}
		if old := s.states[e.Name]; old != nil && old.c.fingerprint == c.fingerprint {
			next[e.Name] = old
			continue
		}
		if s.states[e.Name] != nil {
			s.log.Info("schedule changed", slog.String("schedule", e.Name), slog.String("cron", e.Cron),
				slog.String("time_zone", e.TimeZone))
		} else if !startup {
			s.log.Info("schedule added", slog.String("schedule", e.Name), slog.String("cron", e.Cron),
				slog.String("time_zone", e.TimeZone))
		}
		next[e.Name] = &state{c: c, cursor: start}
	}
	for name := range s.states {
		if next[name] == nil && invalid[name] == "" {
			s.log.Info("schedule removed", slog.String("schedule", name))
			scheduleLastSlot.DeleteLabelValues(name)
		}
	}
	s.reportInvalid(invalid)
	s.states = next
}

// reportInvalid logs each broken entry once per distinct problem and keeps
// the shopq_schedule_entry_invalid gauge in step.
func (s *Scheduler) reportInvalid(invalid map[string]string) {
	for name, msg := range invalid {
		if s.invalid[name] != msg {
			s.log.Warn("schedule entry skipped", slog.String("schedule", name), slog.String("error", msg))
			scheduleErrors.WithLabelValues(name, reasonInvalid).Inc()
		}
		entryInvalid.WithLabelValues(name).Set(1)
	}
	for name := range s.invalid {
		if _, still := invalid[name]; !still {
			entryInvalid.DeleteLabelValues(name)
		}
	}
	s.invalid = invalid
}

// tick fires, for each entry, the latest slot in (cursor, now], if any.
// Earlier slots in that span are coalesced into it; slots more than CatchUp
// before now are skipped.
func (s *Scheduler) tick(ctx context.Context, now time.Time) {
	for _, st := range s.states {
		st.cursor = maxTime(st.cursor, now.Add(-s.opts.CatchUp))
		var due time.Time
		// robfig returns the zero time for a spec that never matches
		// ("0 0 30 2 *"); such an entry simply never fires.
		for n := st.c.slots.Next(st.cursor); !n.IsZero() && !n.After(now); n = st.c.slots.Next(n) {
			due = n
		}
		if due.IsZero() {
			st.failing = false
			continue
		}

		if err := s.fire(ctx, st.c, due); err != nil {
			st.failing = true
			continue
		}
		st.failing = false
		st.cursor = due
	}
}

// fire claims the slot and, if this scheduler won it, enqueues the task. It
// returns an error only when the slot should be tried again.
func (s *Scheduler) fire(ctx context.Context, c *compiled, slot time.Time) error {
	unix := strconv.FormatInt(slot.Unix(), 10)
	log := s.log.With(slog.String("schedule", c.Name), slog.String("slot", slot.UTC().Format(time.RFC3339)))

	key := s.opts.Store.Key("sched", c.Name, unix)
	ttl := s.opts.CatchUp + claimSlack
	won, err := s.opts.Store.RDB.SetNX(ctx, key, s.id, ttl).Result()
	if err != nil {
		log.Error("claim schedule slot", slog.String("error", err.Error()))
		scheduleErrors.WithLabelValues(c.Name, reasonClaim).Inc()
		return fmt.Errorf("claim %s: %w", key, err)
	}
	if !won {
		log.Debug("slot claimed by another scheduler")
		return nil
	}

	taskID := "sched:" + c.Name + ":" + unix
	info, err := s.opts.Enqueuer.EnqueueContext(ctx, c.task, asynq.TaskID(taskID))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		log.Debug("slot already enqueued", slog.String("task_id", taskID))
		return nil
	case err != nil:
		log.Error("enqueue scheduled task", slog.String("task_id", taskID), slog.String("task_type", c.Task),
			slog.String("error", err.Error()))
		scheduleErrors.WithLabelValues(c.Name, reasonEnqueue).Inc()
		s.release(key)
		return fmt.Errorf("enqueue %s: %w", taskID, err)
	}

	log.Info("scheduled task enqueued", slog.String("task_id", info.ID), slog.String("task_type", info.Type),
		slog.String("queue", info.Queue))
	scheduleEnqueued.WithLabelValues(c.Name).Inc()
	scheduleLastSlot.WithLabelValues(c.Name).Set(float64(slot.Unix()))
	return nil
}

// release drops a claim this scheduler holds, so the slot can be retried.
func (s *Scheduler) release(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := releaseScript.Run(ctx, s.opts.Store.RDB, []string{key}, s.id).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.log.Warn("release schedule slot claim", slog.String("error", err.Error()))
	}
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
