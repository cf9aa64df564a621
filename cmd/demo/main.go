// Command demo runs the whole of shopq in one process on real data, with no
// Redis or SMTP server installed: an embedded Redis (miniredis), the worker
// with every family, and mail written as .eml files to an outbox.
//
// It imports the Shopify product exports, replays the online-retail orders
// as orders with stock reservations and confirmation mails, prints what
// happened and checks that every variant and every invoice is accounted for.
//
//	demo [--serve] [--addr 127.0.0.1:8080] [--redis-url URL] [--stock N]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/embedredis"
	"github.com/shopq/shopq/internal/logging"
)

type options struct {
	serve    bool
	addr     string
	redisURL string
	stock    int64
	workDir  string
	feeds    []string
	orders   string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.BoolVar(&o.serve, "serve", false, "after the run, keep serving the admin API and web UI until interrupted")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "admin HTTP and UI address with --serve")
	fs.StringVar(&o.redisURL, "redis-url", "", "use this Redis instead of the embedded one (its database is flushed!)")
	fs.Int64Var(&o.stock, "stock", 1000, "starting stock per SKU before the orders are replayed")
	fs.StringVar(&o.workDir, "dir", ".demo", "directory for the outbox and the worker log")
	feeds := fs.String("feeds", "testdata/shopify/apparel.csv,testdata/shopify/home-and-garden.csv", "Shopify CSV exports to import")
	fs.StringVar(&o.orders, "orders", "testdata/online-retail/online-retail-10k.csv", "online-retail CSV to replay")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 2
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	o.feeds = splitList(*feeds)
	if o.stock < 0 {
		fmt.Fprintln(stderr, "demo: --stock must not be negative")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := demo(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, o options, stdout io.Writer) error {
	outbox := filepath.Join(o.workDir, "outbox")
	if err := os.RemoveAll(outbox); err != nil {
		return err
	}
	if err := os.MkdirAll(outbox, 0o750); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(o.workDir, "worker.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()

	redisURL := o.redisURL
	if redisURL == "" {
		m, err := embedredis.Start()
		if err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		defer m.Close()
		redisURL = m.URL()
		fmt.Fprintln(stdout, "shopq demo: embedded Redis (miniredis) at", m.Addr())
	}

	cfg, err := demoConfig(redisURL, outbox, o)
	if err != nil {
		return err
	}
	logger := logging.New(logFile, "info", "json")
	a, err := app.New(cfg, logger, app.Options{})
	if err != nil {
		return err
	}
	if o.redisURL != "" {
		if err := a.RDB.FlushDB(ctx).Err(); err != nil {
			return err
		}
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	defer a.Shutdown()
	fmt.Fprintf(stdout, "worker running: %d dequeuers x %d slots; log in %s\n\n",
		cfg.Worker.Dequeuers, cfg.Worker.Concurrency, logFile.Name())

	r := &runner{app: a, out: stdout, outbox: outbox}
	ok, err := r.all(ctx, o)
	if err != nil {
		return err
	}
	if o.serve {
		fmt.Fprintf(stdout, "\nserving: http://%s/ui/  http://%s/api/v1/stock/<sku>  http://%s/metrics (Ctrl-C to stop)\n",
			a.HTTPAddr(), a.HTTPAddr(), a.HTTPAddr())
		<-ctx.Done()
	}
	if !ok {
		return fmt.Errorf("the summary does not account for every input: see above")
	}
	return nil
}

func demoConfig(redisURL, outbox string, o options) (*config.Config, error) {
	cfg, err := config.Load("")
	if err != nil {
		return nil, err
	}
	cfg.Redis.URL = redisURL
	cfg.HTTP.Addr = ""
	if o.serve {
		cfg.HTTP.Addr = o.addr
	}
	cfg.Mail.Transport = "file"
	cfg.Mail.OutboxDir = outbox
	cfg.Mail.From = "Demo Shop <shop@example.test>"
	cfg.Mail.Operators = []string{"ops@example.test"}
	cfg.Mail.RatePerSecond = 0
	cfg.Worker.Dequeuers = 1
	cfg.Worker.Concurrency = 16
	cfg.Scheduler.Enabled = false
	return cfg, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
