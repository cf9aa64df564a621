// Command bench measures shopq beside bare asynq on a real Redis on
// loopback and prints one line per figure: the median of --runs runs with
// min and max, ratios measured in the same run, and PASS/MISS per target.
//
//	make bench                                 # everything, 3 runs
//	go run ./cmd/bench --quick                 # one short run of each
//	go run ./cmd/bench --only fig1,fig4 --runs 5
//
// It starts its own redis-server (persistence off) on a free loopback port
// and kills it (by PID) at the end; --redis uses an existing server
// instead, whose database it FLUSHES.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shopq/shopq/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "one short run of each figure (smoke test)")
	only := fs.String("only", "", "comma-separated figures to run: "+strings.Join(bench.Figures, ",")+" (fig7 comes with fig1 and fig2)")
	runs := fs.Int("runs", 3, "runs per figure (median, min and max are printed)")
	redisURL := fs.String("redis", "", "use this Redis (its database is flushed) instead of starting redis-server")
	verbose := fs.Bool("v", false, "print each run as it finishes (stderr)")
	child := fs.Bool(bench.ChildFlag, false, "internal: run one catalog import (figure 5's child)")
	feed := fs.String("feed", "", "internal: feed of the catalog child")
	rows := fs.Int("rows", 0, "internal: rows of the catalog child's feed")
	dir := fs.String("dir", "", "internal: scratch directory of the catalog child")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *child {
		if err := bench.RunCatalogChild(ctx, *redisURL, *dir, *feed, *rows); err != nil {
			fmt.Fprintln(stderr, "bench child:", err)
			return 1
		}
		return 0
	}

	o := bench.Options{Runs: *runs, Quick: *quick, Verbose: *verbose}
	if *quick && !isSet(fs, "runs") {
		o.Runs = 1
	}
	if *only != "" {
		for _, f := range strings.Split(*only, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.Only = append(o.Only, f)
			}
		}
	}
	self, err := os.Executable()
	if err == nil {
		o.Self = []string{self}
	}

	url := *redisURL
	if url == "" {
		srv, err := bench.StartRedis(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\nbench: install redis-server or pass --redis redis://127.0.0.1:6379/N (that database will be flushed)\n", err)
			return 1
		}
		defer srv.Stop()
		url = srv.URL
		fmt.Fprintf(stdout, "redis-server started on %s (pid %d, persistence off)\n", srv.Addr, srv.PID())
	}
	tmp, err := os.MkdirTemp("", "shopq-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	e, err := bench.NewEnv(url, tmp)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer e.Close()

	start := time.Now()
	r := bench.NewReporter(stdout)
	if err := bench.Run(ctx, e, r, o); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "total %s\n", time.Since(start).Round(time.Second))
	return 0
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
