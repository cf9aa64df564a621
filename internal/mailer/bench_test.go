package mailer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/tasks"
)

// benchMails is the number of mails per batch.
const benchMails = 2000

// benchSenders is the number of concurrent senders, and the pool size.
const benchSenders = 4

// BenchmarkSendReuseVsConnectPerMail sends, per iteration, 2,000 mails to
// a local SMTP server over reused sessions and 2,000 with a connection per
// mail, alternating, so both see the same machine load. It reports both
// rates and the speedup, in plain SMTP and with STARTTLS and AUTH PLAIN:
//
//	go test -run '^$' -bench SendReuse -benchtime 3x ./internal/mailer/
//
// Targets: speedup at least 1.5 plain, 3 with TLS and auth.
func BenchmarkSendReuseVsConnectPerMail(b *testing.B) {
	certs := selfSigned(b)
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "starttls_auth"
		}
		b.Run(name, func(b *testing.B) {
			srvOpts := smtptest.Options{}
			if secure {
				srvOpts = smtptest.Options{TLS: certs.Server, AuthMechs: []string{"PLAIN", "LOGIN"}}
			}
			srv := smtptest.Start(b, srvOpts)
			reuse := benchMailer(b, srv, secure, certs, false)
			perMail := benchMailer(b, srv, secure, certs, true)
			r, err := reuse.Render(tasks.TemplateOrderConfirmation, sampleData()[tasks.TemplateOrderConfirmation])
			require.NoError(b, err)

			var tReuse, tPerMail time.Duration
			for b.Loop() {
				tReuse += sendBatch(b, reuse, r)
				tPerMail += sendBatch(b, perMail, r)
			}
			mails := float64(b.N * benchMails)
			require.Equal(b, 2*b.N*benchMails, srv.Accepted())
			b.ReportMetric(mails/tReuse.Seconds(), "reuse_mails/s")
			b.ReportMetric(mails/tPerMail.Seconds(), "per_mail_mails/s")
			b.ReportMetric(tPerMail.Seconds()/tReuse.Seconds(), "speedup")
			b.ReportMetric(float64(reuse.Stats().Dials)/float64(b.N), "reuse_dials/op")
		})
	}
}

func benchMailer(b *testing.B, srv *smtptest.Server, secure bool, certs tlsFiles, perMail bool) *mailer.Mailer {
	o := plainSMTP(srv.Host, srv.Port)
	o.SMTP.PoolSize, o.SMTP.ConnectPerMail = benchSenders, perMail
	o.SMTP.DialTimeout, o.SMTP.SendTimeout = 10*time.Second, 10*time.Second
	if secure {
		o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthPlain, certs.Client
		o.SMTP.Username, o.SMTP.Password = "shop", "s3cret"
	}
	return newMailer(b, o)
}

// sendBatch sends benchMails mails from benchSenders goroutines and
// returns how long it took.
func sendBatch(b *testing.B, m *mailer.Mailer, r mailer.Rendered) time.Duration {
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, benchSenders)
	for w := range benchSenders {
		wg.Go(func() {
			for i := w; i < benchMails; i += benchSenders {
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
	for err := range errs {
		require.NoError(b, err)
	}
	return took
}
