package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/config"
)

// noopKind names one no-op configuration of figure 1.
type noopKind struct {
	Name      string
	Shopq     bool
	Dequeuers int
	// LogLevel overrides shopq's log level.
	LogLevel string
	// BareDefault is a single asynq server with asynq's defaults except
	// the concurrency (shopq's 20): one queue, 1 s poll.
	BareDefault bool
}

// noopResult is one run of one configuration.
type noopResult struct {
	Rate  float64
	Delta Delta
	Tasks int
}

// runNoop prefills n no-op tasks, starts the configuration and measures
// its rate over the middle 80% of the tasks, and the Redis INFO delta over
// the whole run.
func (e *Env) runNoop(ctx context.Context, k noopKind, n int) (noopResult, error) {
	if err := e.Flush(ctx); err != nil {
		return noopResult{}, err
	}
	if err := e.prefill(ctx, n, func(int) (*asynq.Task, error) { return noopTask(nil), nil }); err != nil {
		return noopResult{}, err
	}
	c := newCounter(n)
	before := mustSnapshot(ctx, e.RDB)
	var w worker
	var err error
	switch {
	case k.Shopq:
		w, err = e.startShopq(ctx, shopqOpts{Dequeuers: k.Dequeuers, LogLevel: k.LogLevel, Extra: map[string]asynq.Handler{TypeNoop: c}})
	case k.BareDefault:
		w, err = e.startBare(1, asynq.Config{Concurrency: config.DefaultConcurrency}, c)
	default:
		w, err = e.startBare(k.Dequeuers, bareConfig(config.DefaultConcurrency, config.DefaultTaskCheckInterval), c)
	}
	if err != nil {
		return noopResult{}, fmt.Errorf("%s: %w", k.Name, err)
	}
	err = c.wait(ctx, time.Duration(n)*time.Millisecond+30*time.Second)
	after := mustSnapshot(ctx, e.RDB)
	w.stop()
	if err != nil {
		return noopResult{}, fmt.Errorf("%s: %w", k.Name, err)
	}
	return noopResult{Rate: c.rate(), Delta: after.Sub(before), Tasks: n}, nil
}

// Figure 1: no-op throughput, bare asynq beside shopq's worker, and the
// dequeuer count.
func fig1(ctx context.Context, e *Env, r *Reporter, o Options) error {
	n := 20000
	if o.Quick {
		n = 2000
	}
	kinds := []noopKind{
		{Name: "bare-default", BareDefault: true},
		{Name: "bare-1", Dequeuers: 1}, {Name: "shopq-1", Shopq: true, Dequeuers: 1},
		{Name: "bare-2", Dequeuers: 2}, {Name: "shopq-2", Shopq: true, Dequeuers: 2},
		{Name: "shopq-2-log-warn", Shopq: true, Dequeuers: 2, LogLevel: "warn"},
		{Name: "bare-3", Dequeuers: 3}, {Name: "shopq-3", Shopq: true, Dequeuers: 3},
	}
	if o.Quick {
		kinds = []noopKind{{Name: "bare-default", BareDefault: true}, {Name: "bare-2", Dequeuers: 2},
			{Name: "shopq-2", Shopq: true, Dequeuers: 2}}
	}
	rates := map[string][]float64{}
	cmds := map[string][]float64{}
	cpu := map[string][]float64{}
	for run := range o.Runs {
		for _, k := range kinds {
			res, err := e.runNoop(ctx, k, n)
			if err != nil {
				return err
			}
			rates[k.Name] = append(rates[k.Name], res.Rate)
			cmds[k.Name] = append(cmds[k.Name], float64(res.Delta.Commands)/float64(res.Tasks))
			cpu[k.Name] = append(cpu[k.Name], res.Delta.CPU*1e6/float64(res.Tasks))
			e.Log("fig1 run %d %s: %.0f tasks/s; Redis calls over %d tasks: %s", run+1, k.Name, res.Rate, res.Tasks, res.Delta.Top(8))
		}
	}
	r.Printf("\n== fig1: no-op processing throughput (%d tasks per run, rate over the middle 80%%) ==", n)
	r.Printf("      bare = asynq server(s), concurrency 20, queues critical/default/low, 10 ms poll; bare-default = one asynq server, concurrency 20, asynq's other defaults")
	r.Printf("      shopq = internal/app worker: recovery, queue caps, classification, metrics, one JSON log line per task to a file")
	for _, k := range kinds {
		r.Figure("fig1", "no-op "+k.Name, "tasks/s", rates[k.Name], nil, "")
	}
	mw := &Target{Name: "shopq/bare", Value: 0.90}
	for _, d := range []string{"1", "2", "3"} {
		if _, ok := rates["shopq-"+d]; !ok {
			continue
		}
		r.Figure("fig1", "ratio shopq full middleware / bare, "+d+" dequeuer(s)", "x",
			ratios(rates["shopq-"+d], rates["bare-"+d]), mw, "same run")
	}
	def := ratios(rates["shopq-2"], rates["bare-default"])
	r.Figure("fig1", "ratio shopq default (2 dequeuers) / bare default server", "x", def,
		&Target{Name: "shopq default/bare default", Value: 1.0}, "same run")
	r.Figure("fig1", "peer gap: shopq default / BullMQ (1.9x bare default)", "x", scale(def, 1/1.9), nil,
		"BullMQ 1.65-1.9x bare asynq; 1.0 would match the best peer")
	if _, ok := rates["shopq-1"]; ok {
		r.Figure("fig1", "cost of shopq's 3 weighted queues: bare 1 server / bare default", "x",
			ratios(rates["bare-1"], rates["bare-default"]), nil, "same run; bare default polls one queue")
		r.Figure("fig1", "cost of the per-task log line: shopq 2 / shopq 2 at log level warn", "x",
			ratios(rates["shopq-2"], rates["shopq-2-log-warn"]), nil, "same run")
		r.Figure("fig1", "dequeuers: shopq 2 / shopq 1", "x", ratios(rates["shopq-2"], rates["shopq-1"]), nil, "same run")
		r.Figure("fig1", "dequeuers: shopq 3 / shopq 1", "x", ratios(rates["shopq-3"], rates["shopq-1"]), nil, "same run")
		r.Figure("fig1", "dequeuers: bare 2 / bare 1", "x", ratios(rates["bare-2"], rates["bare-1"]), nil, "same run")
		r.Figure("fig1", "dequeuers: bare 3 / bare 1", "x", ratios(rates["bare-3"], rates["bare-1"]), nil, "same run")
	}
	r.Printf("\n== fig7 (no-op part): Redis commands and CPU per processed task, INFO deltas over each run ==")
	for _, k := range kinds {
		r.Figure("fig7", "no-op "+k.Name+" Redis commands per task", "cmds", cmds[k.Name], nil, "")
		r.Figure("fig7", "no-op "+k.Name+" Redis CPU per task", "us", cpu[k.Name], nil, "")
	}
	return nil
}
