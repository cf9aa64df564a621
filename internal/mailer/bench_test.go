package mailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer/mailbench"
)

// BenchmarkSendReuseVsConnectPerMail sends, per iteration, 2,000 mails to
// a local SMTP server over reused sessions and 2,000 with a connection per
// mail, in plain SMTP and with STARTTLS and AUTH PLAIN, and reports both
// rates and the speedup (targets: at least 1.5 plain, 3 with TLS and
// auth):
//
//	go test -run '^$' -bench SendReuse -benchtime 3x ./internal/mailer/
func BenchmarkSendReuseVsConnectPerMail(b *testing.B) {
	for _, tlsAuth := range []bool{false, true} {
		name := "plain"
		if tlsAuth {
			name = "starttls_auth"
		}
		b.Run(name, func(b *testing.B) {
			var reuse, perMail time.Duration
			var mails int
			for b.Loop() {
				r, err := mailbench.Run(context.Background(), mailbench.Config{Mails: 2000, TLSAuth: tlsAuth})
				require.NoError(b, err)
				reuse, perMail, mails = reuse+r.Reuse, perMail+r.PerMail, mails+r.Mails
			}
			b.ReportMetric(float64(mails)/reuse.Seconds(), "reuse_mails/s")
			b.ReportMetric(float64(mails)/perMail.Seconds(), "per_mail_mails/s")
			b.ReportMetric(perMail.Seconds()/reuse.Seconds(), "speedup")
		})
	}
}

func TestMailbenchRuns(t *testing.T) {
	t.Parallel()
	for _, tlsAuth := range []bool{false, true} {
		r, err := mailbench.Run(context.Background(), mailbench.Config{Mails: 40, TLSAuth: tlsAuth})
		require.NoError(t, err)
		require.Equal(t, 40, r.Mails)
		require.Equal(t, int64(4), r.ReuseDials, "one session per sender")
		require.Positive(t, r.Speedup)
		require.Contains(t, r.String(), "mails/s")
	}
}
