package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/config"
)

// latencyRecorder is a no-op handler that records enqueue-to-start times;
// the payload carries the enqueue instant in Unix nanoseconds.
type latencyRecorder struct {
	mu   sync.Mutex
	lats []time.Duration
	n    atomic.Int64
}

func (l *latencyRecorder) ProcessTask(_ context.Context, t *asynq.Task) error {
	now := time.Now()
	if p := t.Payload(); len(p) == 8 {
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
		l.mu.Lock()
		l.lats = append(l.lats, now.Sub(sent))
		l.mu.Unlock()
	}
	l.n.Add(1)
	return nil
}

func (l *latencyRecorder) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lats
	l.lats = nil
	return out
}

func stampedTask() *asynq.Task {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	return noopTask(b[:])
}

// pace enqueues n tasks at rate per second from producers goroutines, each
// stamped just before its enqueue, and waits until rec has seen them all.
func (e *Env) pace(ctx context.Context, rec *latencyRecorder, n int, rate float64, producers int) error {
	seen := rec.n.Load()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := p; i < n; i += producers {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				if _, err := e.Producer.EnqueueContext(ctx, stampedTask()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for rec.n.Load()-seen < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d paced tasks handled: %w", rec.n.Load()-seen, n, errTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1)+0.5)]) / float64(time.Millisecond)
}

type pcts struct{ p50, p95, p99 float64 }

func percentiles(lats []time.Duration) pcts {
	slices.Sort(lats)
	return pcts{percentile(lats, 0.50), percentile(lats, 0.95), percentile(lats, 0.99)}
}

// idleCommands measures Redis commands per second over window while the
// worker has nothing to do.
func (e *Env) idleCommands(ctx context.Context, window time.Duration) (float64, error) {
	time.Sleep(300 * time.Millisecond)
	before, err := TakeSnapshot(ctx, e.RDB)
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	after, err := TakeSnapshot(ctx, e.RDB)
	if err != nil {
		return 0, err
	}
	d := after.Sub(before)
	return float64(d.Commands) / d.Elapsed.Seconds(), nil
}

// Figure 4: pickup latency (enqueue to handler start, through shopq's
// middleware) at idle and under load, and idle Redis load, for several
// asynq poll intervals.
func fig4(ctx context.Context, e *Env, r *Reporter, o Options) error {
	idleN, loadRate, loadN, window := 100, 2000.0, 4000, 2*time.Second
	if o.Quick {
		idleN, loadN, window = 20, 400, 300*time.Millisecond
	}
	intervals := []time.Duration{time.Second, 100 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond}
	type key struct {
		tci  time.Duration
		load bool
	}
	res := map[key][]pcts{}
	idleCmds := map[time.Duration][]float64{}
	var bareIdle []float64
	for run := range o.Runs {
		for _, tci := range intervals {
			if err := e.Flush(ctx); err != nil {
				return err
			}
			rec := &latencyRecorder{}
			w, err := e.startShopq(ctx, shopqOpts{TaskCheckInterval: tci, Extra: map[string]asynq.Handler{TypeNoop: rec}})
			if err != nil {
				return err
			}
			cmds, err := e.idleCommands(ctx, window)
			if err == nil {
				time.Sleep(tci) // a dequeuer may be asleep in its poll
				err = e.pace(ctx, rec, idleN, 50, 1)
			}
			idle := rec.take()
			if err == nil {
				err = e.pace(ctx, rec, loadN, loadRate, 4)
			}
			load := rec.take()
			w.stop()
			if err != nil {
				return fmt.Errorf("poll %v: %w", tci, err)
			}
			res[key{tci, false}] = append(res[key{tci, false}], percentiles(idle))
			res[key{tci, true}] = append(res[key{tci, true}], percentiles(load))
			idleCmds[tci] = append(idleCmds[tci], cmds)
			e.Log("fig4 run %d poll %v: idle %+v load %+v, idle %.0f cmds/s", run+1, tci,
				res[key{tci, false}][run], res[key{tci, true}][run], cmds)
		}
		if err := e.Flush(ctx); err != nil {
			return err
		}
		bw, err := e.startBare(1, asynq.Config{Concurrency: config.DefaultConcurrency}, &latencyRecorder{})
		if err != nil {
			return err
		}
		c, err := e.idleCommands(ctx, window)
		bw.stop()
		if err != nil {
			return err
		}
		bareIdle = append(bareIdle, c)
	}
	r.Printf("\n== fig4: pickup latency, enqueue to handler start in shopq's default worker (2 dequeuers); idle = 1 task per 20 ms (%d tasks), load = %.0f tasks/s (%d tasks) ==",
		idleN, loadRate, loadN)
	pick := func(ps []pcts, f func(pcts) float64) []float64 {
		out := make([]float64, len(ps))
		for i, p := range ps {
			out[i] = f(p)
		}
		return out
	}
	def := config.DefaultTaskCheckInterval
	var meeting []string
	for _, tci := range intervals {
		isDef := tci == def
		ok := true
		for _, load := range []bool{false, true} {
			name := "idle"
			if load {
				name = "2000/s"
			}
			ps := res[key{tci, load}]
			var t50, t99 *Target
			if isDef {
				t50 = &Target{Name: "p50", AtMost: true, Value: 10}
				t99 = &Target{Name: "p99", AtMost: true, Value: 25}
			}
			p50 := pick(ps, func(p pcts) float64 { return p.p50 })
			p99 := pick(ps, func(p pcts) float64 { return p.p99 })
			r.Figure("fig4", fmt.Sprintf("poll %v %s pickup p50", tci, name), "ms", p50, t50, "")
			r.Figure("fig4", fmt.Sprintf("poll %v %s pickup p95", tci, name), "ms", pick(ps, func(p pcts) float64 { return p.p95 }), nil, "")
			r.Figure("fig4", fmt.Sprintf("poll %v %s pickup p99", tci, name), "ms", p99, t99, "")
			if !load {
				r.Figure("fig4", fmt.Sprintf("poll %v peer gap: idle p50 / 1 ms (Sidekiq, BullMQ)", tci), "x", p50, nil,
					"1.0 would match the peers' blocking pop")
			}
			ok = ok && Summarize(p50).Median <= 10 && Summarize(p99).Median <= 25
		}
		r.Figure("fig4", fmt.Sprintf("poll %v idle Redis commands/s, one worker (2 dequeuers)", tci), "cmds/s", idleCmds[tci], nil, "")
		if ok {
			meeting = append(meeting, tci.String())
		}
	}
	r.Figure("fig4", "idle Redis commands/s, one bare default asynq server (1 s poll)", "cmds/s", bareIdle, nil, "")
	if len(meeting) == 0 {
		meeting = []string{"none"}
	}
	r.Printf("fig4  poll intervals whose medians meet p50 <= 10 ms and p99 <= 25 ms idle and at 2000/s: %s; shopq's default (worker.task_check_interval) is %v",
		strings.Join(meeting, ", "), def)
	return nil
}
