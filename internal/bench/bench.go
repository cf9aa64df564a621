// Package bench measures shopq beside bare asynq on a real Redis: no-op and
// per-family throughput, enqueue rates, pickup latency, catalog import
// memory, mail session reuse, and Redis cost per task. cmd/bench prints its
// figures; each is the median of several runs with min and max, and each
// comparison is a ratio of measurements taken in the same run.
package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figures lists the figure names accepted by Options.Only.
var Figures = []string{"fig1", "fig2", "fig3", "fig4", "fig5", "fig6"}

// Options selects and sizes the figures.
type Options struct {
	// Runs per figure (at least 1; the bench command defaults to 3).
	Runs int
	// Quick makes every run short, for smoke tests.
	Quick bool
	// Only lists the figures to run; empty means all. fig7 (Redis cost per
	// task) is printed with fig1 and fig2.
	Only []string
	// Self runs this program again as the catalog child of figure 5:
	// Self(args...) must start a process that calls RunCatalogChild.
	// Figure 5 is skipped when nil.
	Self []string
	// Verbose prints each run as it finishes.
	Verbose bool
}

func (o Options) want(fig string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, fig)
}

// Run runs the selected figures against e and prints them to r.
func Run(ctx context.Context, e *Env, r *Reporter, o Options) error {
	if o.Runs < 1 {
		o.Runs = 1
	}
	for _, f := range o.Only {
		if f == "fig7" {
			o.Only = append(o.Only, "fig1", "fig2")
			continue
		}
		if !slices.Contains(Figures, f) {
			return fmt.Errorf("unknown figure %q: want some of %s,fig7", f, strings.Join(Figures, ","))
		}
	}
	if o.Verbose {
		e.Log = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "  %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	r.Printf("shopq bench: %d run(s) per figure, quick=%v, GOMAXPROCS=%d, redis %s", o.Runs, o.Quick,
		runtime.GOMAXPROCS(0), e.RedisURL)
	steps := []struct {
		name string
		fn   func(context.Context, *Env, *Reporter, Options) error
	}{
		{"fig1", fig1}, {"fig2", fig2}, {"fig3", fig3}, {"fig4", fig4}, {"fig5", fig5}, {"fig6", fig6},
	}
	for _, s := range steps {
		if !o.want(s.name) {
			continue
		}
		start := time.Now()
		if err := s.fn(ctx, e, r, o); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.Printf("      (%s took %s)", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	r.Targets()
	return e.Flush(ctx)
}
