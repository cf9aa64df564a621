// Package mailbench measures what SMTP session reuse buys: it sends the
// same mails to a local smtptest server over reused sessions and with a
// connection per mail, alternating batches so both see the same machine
// load. The mailer benchmark and the bench command both call Run.
package mailbench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/tasks"
)

// Config is one comparison.
type Config struct {
	// Mails per batch. Default: 2000.
	Mails int
	// Rounds of one reuse batch and one per-mail batch. Default: 1.
	Rounds int
	// Senders is the number of concurrent senders and the pool size.
	// Default: 4.
	Senders int
	// TLSAuth sends over STARTTLS with AUTH PLAIN instead of plain SMTP.
	TLSAuth bool
}

// Result is the outcome of Run.
type Result struct {
	Mails              int           `json:"mails"`
	TLSAuth            bool          `json:"tls_auth"`
	Reuse              time.Duration `json:"reuse_ns"`
	PerMail            time.Duration `json:"per_mail_ns"`
	ReuseMailsPerSec   float64       `json:"reuse_mails_per_sec"`
	PerMailMailsPerSec float64       `json:"per_mail_mails_per_sec"`
	// Speedup is per-mail time over reuse time.
	Speedup float64 `json:"speedup"`
	// ReuseDials is the number of sessions the reuse mailer opened.
	ReuseDials int64 `json:"reuse_dials"`
}

func (r Result) String() string {
	mode := "plain"
	if r.TLSAuth {
		mode = "starttls+auth"
	}
	return fmt.Sprintf("%s: %d mails: reuse %.0f mails/s (%d sessions), connect per mail %.0f mails/s: %.2fx",
		mode, r.Mails, r.ReuseMailsPerSec, r.ReuseDials, r.PerMailMailsPerSec, r.Speedup)
}

// Run starts a local server, sends cfg.Mails mails per batch both ways and
// reports the rates.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = withDefaults(cfg)
	srvOpts := smtptest.Options{}
	var cert *smtptest.Cert
	if cfg.TLSAuth {
		var err error
		if cert, err = smtptest.SelfSigned(); err != nil {
			return Result{}, err
		}
		srvOpts = smtptest.Options{TLS: cert.Server, AuthMechs: []string{"PLAIN", "LOGIN"}}
	}
	srv, err := smtptest.Listen(srvOpts)
	if err != nil {
		return Result{}, fmt.Errorf("smtp server: %w", err)
	}
	defer srv.Close()

	reuse, err := newMailer(srv, cfg, cert, false)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = reuse.Close() }()
	perMail, err := newMailer(srv, cfg, cert, true)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = perMail.Close() }()
	r, err := reuse.Render(tasks.TemplateOrderFailed, map[string]any{
		"customer_name": "Ada Lovelace", "order_id": "A-1002", "reason": "payment declined",
	})
	if err != nil {
		return Result{}, err
	}

	res := Result{Mails: cfg.Mails * cfg.Rounds, TLSAuth: cfg.TLSAuth}
	for range cfg.Rounds {
		d, err := batch(ctx, reuse, r, cfg)
		if err != nil {
			return res, fmt.Errorf("reuse: %w", err)
		}
		res.Reuse += d
		if d, err = batch(ctx, perMail, r, cfg); err != nil {
			return res, fmt.Errorf("connect per mail: %w", err)
		}
		res.PerMail += d
	}
	if got, want := srv.Accepted(), 2*res.Mails; got != want {
		return res, fmt.Errorf("server accepted %d mails, want %d", got, want)
	}
	res.ReuseMailsPerSec = float64(res.Mails) / res.Reuse.Seconds()
	res.PerMailMailsPerSec = float64(res.Mails) / res.PerMail.Seconds()
	res.Speedup = res.PerMail.Seconds() / res.Reuse.Seconds()
	res.ReuseDials = reuse.Stats().Dials
	return res, nil
}

func withDefaults(c Config) Config {
	if c.Mails <= 0 {
		c.Mails = 2000
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Senders <= 0 {
		c.Senders = 4
	}
	return c
}

func newMailer(srv *smtptest.Server, cfg Config, cert *smtptest.Cert, perMail bool) (*mailer.Mailer, error) {
	o := mailer.Options{
		Transport: mailer.TransportSMTP, From: "Shop <shop@example.test>",
		SMTP: mailer.SMTPOptions{
			Host: srv.Host, Port: srv.Port, TLS: mailer.TLSNone, Auth: mailer.AuthNone,
			DialTimeout: 10 * time.Second, SendTimeout: 10 * time.Second,
			PoolSize: cfg.Senders, ConnectPerMail: perMail,
		},
	}
	if cert != nil {
		o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthPlain, cert.Client
		o.SMTP.Username, o.SMTP.Password = "shop", "bench-secret"
	}
	return mailer.New(o, nil, nil)
}

// batch sends cfg.Mails mails from cfg.Senders goroutines.
func batch(ctx context.Context, m *mailer.Mailer, r mailer.Rendered, cfg Config) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Senders)
	for w := range cfg.Senders {
		wg.Go(func() {
			for i := w; i < cfg.Mails; i += cfg.Senders {
				msg, _, err := m.Compose("Ada <ada@example.test>", r, fmt.Sprint("bench:", i), time.Now())
				if err == nil {
					err = m.Send(ctx, msg)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	return took, <-errs
}
