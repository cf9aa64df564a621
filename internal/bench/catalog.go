package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/shopq/shopq/internal/mailer/mailbench"
)

// ChildFlag is the hidden flag that makes the bench command run one catalog
// import as figure 5's child process.
const ChildFlag = "catalog-child"

// RunCatalogChild imports the feed at path (rows rows) through shopq's
// default worker on redisURL and writes the CatalogRun as JSON to stdout,
// with this process's peak RSS.
func RunCatalogChild(ctx context.Context, redisURL, dir, feed string, rows int) error {
	e, err := NewEnv(redisURL, dir)
	if err != nil {
		return err
	}
	defer e.Close()
	res, err := e.importCatalog(ctx, feed, rows, false)
	if err != nil {
		return err
	}
	res.PeakRSSBytes = peakRSS()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// peakRSS returns this process's peak resident set size (VmHWM) in bytes.
// It is read from /proc rather than getrusage: a child's ru_maxrss can
// include the parent's memory at fork time.
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
			return 0
		}
		return ru.Maxrss << 10 // kilobytes on Linux
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// runChild runs one import in a child process and returns its result with
// the peak RSS the child read from its own /proc/self/status.
func (e *Env) runChild(ctx context.Context, self []string, feed string, rows int) (CatalogRun, error) {
	args := append(self[1:], "--"+ChildFlag, "--redis", e.RedisURL, "--feed", feed,
		"--rows", fmt.Sprint(rows), "--dir", e.Dir)
	cmd := exec.CommandContext(ctx, self[0], args...) //nolint:gosec // this program run again as its own child
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return CatalogRun{}, fmt.Errorf("catalog child: %w: %s", err, errb.String())
	}
	var res CatalogRun
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return CatalogRun{}, fmt.Errorf("catalog child output %q: %w", out.String(), err)
	}
	if res.PeakRSSBytes == 0 {
		return CatalogRun{}, fmt.Errorf("catalog child reported no peak RSS")
	}
	return res, nil
}

// Figure 5: catalog import rows/s and peak RSS of the importing process
// (shopq's worker in a child process) at 10k, 100k and 1M rows.
func fig5(ctx context.Context, e *Env, r *Reporter, o Options) error {
	if len(o.Self) == 0 {
		r.Printf("\n== fig5: skipped (no child command) ==")
		return nil
	}
	sizes := []int{10000, 100000, 1000000}
	if o.Quick {
		sizes = []int{10000}
	}
	r.Printf("\n== fig5: catalog import of a generated Shopify feed through shopq's default worker in a child process ==")
	for _, rows := range sizes {
		feed, err := e.feedPath(rows)
		if err != nil {
			return err
		}
		var rates, rss []float64
		for run := range o.Runs {
			res, err := e.runChild(ctx, o.Self, feed, rows)
			if err != nil {
				return err
			}
			rates = append(rates, res.RowsPerSec)
			rss = append(rss, float64(res.PeakRSSBytes)/(1<<20))
			e.Log("fig5 run %d %d rows: %.0f rows/s, peak RSS %.0f MB", run+1, rows, res.RowsPerSec, rss[len(rss)-1])
		}
		var tr, tm *Target
		if rows == 1000000 {
			tr = &Target{Name: "rows/s", Value: 30000}
			tm = &Target{Name: "peak RSS MB", AtMost: true, Value: 250}
		}
		r.Figure("fig5", fmt.Sprintf("catalog import %d rows", rows), "rows/s", rates, tr, "")
		r.Figure("fig5", fmt.Sprintf("catalog import %d rows peak RSS (worker process)", rows), "MB", rss, tm, "")
		if rows >= 1000000 {
			_ = os.Remove(feed)
		}
	}
	return nil
}

// Figure 6: mail sending over pooled SMTP sessions beside a connection per
// mail, against a local SMTP server (mailbench).
func fig6(ctx context.Context, _ *Env, r *Reporter, o Options) error {
	type mode struct {
		name  string
		cfg   mailbench.Config
		reuse []float64
		per   []float64
		speed []float64
	}
	mails := 2000
	if o.Quick {
		mails = 200
	}
	modes := []*mode{
		{name: "plain SMTP", cfg: mailbench.Config{Mails: mails, Rounds: 1, Senders: 4}},
		{name: "STARTTLS+AUTH", cfg: mailbench.Config{Mails: mails / 2, Rounds: 1, Senders: 4, TLSAuth: true}},
	}
	for run := range o.Runs {
		for _, m := range modes {
			res, err := mailbench.Run(ctx, m.cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			m.reuse = append(m.reuse, res.ReuseMailsPerSec)
			m.per = append(m.per, res.PerMailMailsPerSec)
			m.speed = append(m.speed, res.Speedup)
			_ = run
		}
	}
	r.Printf("\n== fig6: mail, pooled sessions (4 senders, pool 4) vs a connection per mail, local SMTP server ==")
	for _, m := range modes {
		r.Figure("fig6", m.name+" pooled", "mails/s", m.reuse, nil, fmt.Sprintf("%d mails per run", m.cfg.Mails))
		r.Figure("fig6", m.name+" connect per mail", "mails/s", m.per, nil, "")
		r.Figure("fig6", "ratio pooled / connect per mail, "+m.name, "x", m.speed, nil, "same run")
	}
	return nil
}
