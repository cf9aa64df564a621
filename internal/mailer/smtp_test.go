package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/tasks"
)

// Short timeouts so stalls end fast; the assertions allow generous slack.
const (
	testDialTimeout = 500 * time.Millisecond
	testSendTimeout = 500 * time.Millisecond
	slack           = 3 * time.Second
)

func fakeOpts(s *smtptest.Server) mailer.Options {
	o := plainSMTP(s.Host, s.Port)
	o.SMTP.DialTimeout, o.SMTP.SendTimeout = testDialTimeout, testSendTimeout
	return o
}

func sendTo(ctx context.Context, m *mailer.Mailer, to, key string) error {
	_, err := send(ctx, m, tasks.TemplateOrderFailed, to, key, sampleData()[tasks.TemplateOrderFailed])
	return err
}

// on returns a handler answering verb (every time, or only its nth call
// when nth > 0) with a.
func on(verb string, nth int, a smtptest.Action) smtptest.Handler {
	return func(c smtptest.Call) smtptest.Action {
		if c.Verb == verb && (nth == 0 || c.N == nth) {
			return a
		}
		return smtptest.Action{}
	}
}

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	reply := func(r string) smtptest.Action { return smtptest.Action{Reply: r} }
	for _, tc := range []struct {
		name    string
		handler smtptest.Handler
		class   mailer.Class
		code    int
		inReply string
	}{
		{"421AtGreeting", on(smtptest.Greeting, 0, smtptest.Action{Reply: "421 4.3.2 busy", Close: true}), mailer.Temporary, 421, "busy"},
		{"554AtGreeting", on(smtptest.Greeting, 0, smtptest.Action{Reply: "554 5.7.1 go away", Close: true}), mailer.Permanent, 554, "go away"},
		{"421OnMail", on("MAIL", 0, smtptest.Action{Reply: "421 4.7.0 try later", Close: true}), mailer.Temporary, 421, "try later"},
		{"450OnRcpt", on("RCPT", 0, reply("450 4.2.1 mailbox busy")), mailer.Temporary, 450, "mailbox busy"},
		{"452OnRcpt", on("RCPT", 0, reply("452 4.2.2 over quota")), mailer.Temporary, 452, "over quota"},
		{"550OnRcpt", on("RCPT", 0, reply("550 5.1.1 no such user")), mailer.Permanent, 550, "5.1.1 no such user"},
		{"550EchoingAddress", on("RCPT", 0, reply("550 5.1.1 <ada@example.test>: Recipient address rejected")),
			mailer.Permanent, 550, "5.1.1 <***@example.test>: Recipient address rejected"},
		{"554OnData", on("DATA", 0, reply("554 5.5.1 no valid recipients")), mailer.Permanent, 554, "no valid"},
		{"451AfterData", on(smtptest.DataEnd, 0, reply("451 4.7.1 greylisted")), mailer.Temporary, 451, "greylisted"},
		{"554AfterData", on(smtptest.DataEnd, 0, reply("554 5.7.1 spam")), mailer.Permanent, 554, "spam"},
		{"550OnMail", on("MAIL", 0, reply("550 5.7.1 sender rejected")), mailer.Permanent, 550, "sender rejected"},
		{"StallAtGreeting", on(smtptest.Greeting, 0, smtptest.Action{Stall: true}), mailer.Temporary, 0, "timeout"},
		{"StallAtEHLO", on("EHLO", 0, smtptest.Action{Stall: true}), mailer.Temporary, 0, "timeout"},
		{"StallOnRcpt", on("RCPT", 0, smtptest.Action{Stall: true}), mailer.Temporary, 0, ""},
		{"StallAfterData", on(smtptest.DataEnd, 0, smtptest.Action{Stall: true}), mailer.Temporary, 0, ""},
		{"DropAtGreeting", on(smtptest.Greeting, 0, smtptest.Action{Drop: true}), mailer.Temporary, 0, ""},
		{"DropOnMail", on("MAIL", 0, smtptest.Action{Drop: true}), mailer.Temporary, 0, ""},
		{"DropOnData", on("DATA", 0, smtptest.Action{Drop: true}), mailer.Temporary, 0, ""},
		{"DropAfterData", on(smtptest.DataEnd, 0, smtptest.Action{Drop: true}), mailer.Temporary, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{Handler: tc.handler})
			m := newMailer(t, fakeOpts(srv))

			start := time.Now()
			err := sendTo(context.Background(), m, "Ada <ada@example.test>", "class:"+tc.name)
			took := time.Since(start)

			var me *mailer.Error
			require.ErrorAs(t, err, &me)
			require.Equal(t, tc.class, me.Class, "%v", err)
			require.Equal(t, tc.code, me.Code, "%v", err)
			require.Contains(t, me.Reply, tc.inReply)
			if tc.code != 0 {
				require.True(t, strings.HasPrefix(me.Reply, fmt.Sprint(tc.code, " ")), "reply %q starts with its code", me.Reply)
				require.NotContains(t, me.Reply, `"`, "the server's reply verbatim")
			}
			require.NotContains(t, err.Error(), "ada@example.test", "no recipient address in task errors")
			require.Less(t, took, testDialTimeout+testSendTimeout+slack, "nothing hangs past its timeout")
			require.Zero(t, srv.Accepted())
		})
	}
}

// An error after the server's final 250 (QUIT failing, the connection
// dropped) counts as sent.
func TestErrorAfterFinal250CountsAsSent(t *testing.T) {
	t.Parallel()
	for _, a := range []smtptest.Action{{Drop: true}, {Reply: "421 4.3.0 shutting down", Close: true}, {Stall: true}} {
		t.Run(fmt.Sprintf("QUIT%+v", a), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{Handler: on("QUIT", 1, a)})
			o := fakeOpts(srv)
			o.SMTP.ConnectPerMail = true
			m := newMailer(t, o)

			require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "after250:1"))
			require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "after250:2"))
			require.Equal(t, 2, srv.Accepted())
			require.Equal(t, 2, srv.Sessions())
		})
	}
	t.Run("ClosedAfter250", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{
			Handler: on(smtptest.DataEnd, 1, smtptest.Action{Reply: "250 2.0.0 queued", Close: true}),
		})
		m := newMailer(t, fakeOpts(srv))
		require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "after250:1"))
		require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "after250:2"))
		require.Equal(t, 2, srv.Accepted())
		require.Equal(t, 2, srv.Sessions())
	})
}

// B16 S1: no STARTTLS under tls: mandatory fails permanently before any
// AUTH or MAIL FROM, and the error names STARTTLS and not the password.
func TestMandatoryTLSWithoutSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{AuthMechs: []string{"PLAIN", "LOGIN"}})
	o := fakeOpts(srv)
	o.SMTP.TLS, o.SMTP.Auth = mailer.TLSMandatory, mailer.AuthAuto
	o.SMTP.Username, o.SMTP.Password = "shop", "hunter2-secret"
	m := newMailer(t, o)

	err := sendTo(context.Background(), m, "ada@example.test", "s1")
	require.ErrorIs(t, err, mailer.ErrNoSTARTTLS)
	require.True(t, mailer.IsPermanent(err))
	require.Contains(t, err.Error(), "STARTTLS")
	require.NotContains(t, err.Error(), "hunter2-secret")
	require.True(t, srv.Saw("EHLO"))
	require.False(t, srv.Saw("AUTH"), "no credentials sent")
	require.False(t, srv.Saw("MAIL"), "no MAIL FROM sent in plaintext")
}

// Without encryption, PLAIN and LOGIN are refused unless allowed.
func TestNoPasswordInClear(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, tls, auth string
		allow           bool
		wantAuth        string // "" = no AUTH expected
	}{
		{"OpportunisticAutoRefuses", mailer.TLSOpportunistic, mailer.AuthAuto, false, ""},
		{"OpportunisticPlainRefuses", mailer.TLSOpportunistic, mailer.AuthPlain, false, ""},
		{"NoneLoginAllowed", mailer.TLSNone, mailer.AuthLogin, true, "LOGIN"},
		{"OpportunisticAutoAllowed", mailer.TLSOpportunistic, mailer.AuthAuto, true, "PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{AuthMechs: []string{"PLAIN", "LOGIN"}})
			o := fakeOpts(srv)
			o.SMTP.TLS, o.SMTP.Auth, o.SMTP.AllowInsecureAuth = tc.tls, tc.auth, tc.allow
			o.SMTP.Username, o.SMTP.Password = "shop", "hunter2"
			m := newMailer(t, o)

			err := sendTo(context.Background(), m, "ada@example.test", "clear:"+tc.name)
			if tc.wantAuth == "" {
				require.ErrorIs(t, err, mailer.ErrInsecureAuth)
				require.True(t, mailer.IsPermanent(err))
				require.False(t, srv.Saw("AUTH"))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantAuth, authMech(srv))
		})
	}
}

func authMech(srv *smtptest.Server) string {
	for _, c := range srv.Calls() {
		if c.Verb == "AUTH" {
			return c.Arg
		}
	}
	return ""
}

// B16 S2 and friends: the mechanism follows the configuration and what
// the server offers, always after STARTTLS.
func TestAuthMechanisms(t *testing.T) {
	t.Parallel()
	certs := selfSigned(t)
	for _, tc := range []struct {
		name     string
		offered  []string
		auth     string
		implicit bool
		want     string
	}{
		{"AutoOnlyLogin", []string{"LOGIN"}, mailer.AuthAuto, false, "LOGIN"},
		{"AutoPrefersCramMD5", []string{"PLAIN", "LOGIN", "CRAM-MD5"}, mailer.AuthAuto, false, "CRAM-MD5"},
		{"AutoPlain", []string{"PLAIN", "LOGIN"}, mailer.AuthAuto, false, "PLAIN"},
		{"Plain", []string{"PLAIN", "LOGIN"}, mailer.AuthPlain, false, "PLAIN"},
		{"Login", []string{"PLAIN", "LOGIN"}, mailer.AuthLogin, false, "LOGIN"},
		{"CramMD5", []string{"CRAM-MD5"}, mailer.AuthCramMD5, false, "CRAM-MD5"},
		{"ImplicitAutoPlain", []string{"PLAIN"}, mailer.AuthAuto, true, "PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{TLS: certs.Server, Implicit: tc.implicit, AuthMechs: tc.offered})
			o := fakeOpts(srv)
			o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, tc.auth, certs.Client
			if tc.implicit {
				o.SMTP.TLS = mailer.TLSImplicit
			}
			o.SMTP.Username, o.SMTP.Password = "shop", "hunter2"
			m := newMailer(t, o)

			require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "auth:"+tc.name))
			require.Equal(t, tc.want, authMech(srv))
			for _, c := range srv.Calls() {
				if c.Verb == "AUTH" || c.Verb == "MAIL" {
					require.True(t, c.TLS, "%s sent over an encrypted session", c.Verb)
				}
			}
		})
	}

	t.Run("MechanismNotOffered", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{TLS: certs.Server, AuthMechs: []string{"LOGIN"}})
		o := fakeOpts(srv)
		o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthCramMD5, certs.Client
		o.SMTP.Username, o.SMTP.Password = "shop", "hunter2"
		err := sendTo(context.Background(), newMailer(t, o), "ada@example.test", "auth:none")
		require.ErrorIs(t, err, mailer.ErrNoAuthMechanism)
		require.True(t, mailer.IsPermanent(err))
	})

	// B16 S4: a rejected password is permanent and not retried within the
	// send; the error carries the reply, never the password.
	t.Run("RejectedPassword", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{
			TLS: certs.Server, AuthMechs: []string{"PLAIN"},
			Handler: on("AUTH", 0, smtptest.Action{Reply: "535 5.7.8 authentication credentials invalid"}),
		})
		o := fakeOpts(srv)
		o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthAuto, certs.Client
		o.SMTP.Username, o.SMTP.Password = "shop", "hunter2-secret"
		err := sendTo(context.Background(), newMailer(t, o), "ada@example.test", "auth:535")
		var me *mailer.Error
		require.ErrorAs(t, err, &me)
		require.Equal(t, mailer.Permanent, me.Class)
		require.Equal(t, 535, me.Code)
		require.Equal(t, "5.7.8", me.Enhanced)
		require.NotContains(t, err.Error(), "hunter2-secret")
		require.Equal(t, 1, srv.Sessions())
	})

	// B16 S4: a broken configuration costs one attempt per pause, not one
	// per mail; mails meanwhile are paused (rescheduled), not failed.
	t.Run("RejectedPasswordPausesDialling", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{
			TLS: certs.Server, AuthMechs: []string{"PLAIN"},
			Handler: on("AUTH", 0, smtptest.Action{Reply: "535 5.7.8 authentication credentials invalid"}),
		})
		o := fakeOpts(srv)
		o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthAuto, certs.Client
		o.SMTP.Username, o.SMTP.Password = "shop", "hunter2"
		o.SMTP.FailurePause = time.Second
		m := newMailer(t, o)

		require.True(t, mailer.IsPermanent(sendTo(context.Background(), m, "ada@example.test", "pause:0")))
		for i := 1; i <= 5; i++ {
			err := sendTo(context.Background(), m, "ada@example.test", fmt.Sprint("pause:", i))
			d, paused := mailer.PausedFor(err)
			require.True(t, paused, "%v", err)
			require.Positive(t, d)
			require.LessOrEqual(t, d, time.Second)
			require.False(t, mailer.IsPermanent(err))
			require.Contains(t, err.Error(), "535")
		}
		require.Equal(t, 1, srv.Sessions(), "one AUTH attempt during the pause")

		time.Sleep(1100 * time.Millisecond)
		require.True(t, mailer.IsPermanent(sendTo(context.Background(), m, "ada@example.test", "pause:6")))
		require.Equal(t, 2, srv.Sessions(), "after the pause it tries again")
	})
}

// One session carries many mails; connect-per-mail opens one per mail.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	for _, perMail := range []bool{false, true} {
		t.Run(fmt.Sprint("ConnectPerMail=", perMail), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{})
			o := fakeOpts(srv)
			o.SMTP.ConnectPerMail = perMail
			m := newMailer(t, o)
			for i := range 20 {
				require.NoError(t, sendTo(context.Background(), m, "ada@example.test", fmt.Sprint("reuse:", i)))
			}
			require.Equal(t, 20, srv.Accepted())
			want := 1
			if perMail {
				want = 20
			}
			require.Equal(t, want, srv.Sessions())
		})
	}
}

// B18: rejections on a reused session leave it clean (RSET), so the next
// mail does not meet "nested MAIL command" (the fake server answers 503 to
// a nested MAIL, which would show as an extra failure); 421 and a reset
// connection cost the session, not the following mails.
func TestBulkSendOnOneSession(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Handler: func(c smtptest.Call) smtptest.Action {
		switch {
		case c.Verb == "RCPT" && (strings.Contains(c.Arg, "rcpt10@") || strings.Contains(c.Arg, "rcpt55@")):
			return smtptest.Action{Reply: "550 5.1.1 no such user"}
		case c.Verb == "RCPT" && strings.Contains(c.Arg, "rcpt30@"):
			return smtptest.Action{Reply: "452 4.2.2 mailbox full"}
		case c.Verb == "MAIL" && c.N == 70:
			return smtptest.Action{Reply: "421 4.7.0 too many messages", Close: true}
		case c.Verb == "DATA" && c.N == 40:
			return smtptest.Action{Reply: "554 5.7.1 rejected by policy"}
		case c.Verb == smtptest.DataEnd && c.N == 78:
			return smtptest.Action{Drop: true}
		}
		return smtptest.Action{}
	}})
	o := fakeOpts(srv)
	m := newMailer(t, o)

	var permanent, temporary []int
	for i := 1; i <= 100; i++ {
		err := sendTo(context.Background(), m, fmt.Sprintf("rcpt%d@example.test", i), fmt.Sprint("bulk:", i))
		switch {
		case err == nil:
		case mailer.IsPermanent(err):
			permanent = append(permanent, i)
		default:
			require.True(t, mailer.IsTemporary(err), "%v", err)
			temporary = append(temporary, i)
		}
		if err != nil {
			require.NotContains(t, err.Error(), "nested MAIL")
		}
	}
	require.Len(t, permanent, 3, "550 twice and one 554: %v", permanent)
	require.Contains(t, permanent, 10)
	require.Contains(t, permanent, 55)
	// The 421 at MAIL FROM closed a reused session before the mail began:
	// that mail went out at once on a new session.
	require.Len(t, temporary, 2, "452 and a reset during DATA: %v", temporary)
	require.Contains(t, temporary, 30)
	require.Equal(t, 95, srv.Accepted())
	require.Equal(t, 3, srv.Sessions(), "a new session after the 421 and after the reset only")
}

// A session the server closed while idle (silently, or with a parting
// 421) is dialled again without failing the mail.
func TestReconnectAfterIdleClose(t *testing.T) {
	t.Parallel()
	for _, a := range []smtptest.Action{{Drop: true}, {Reply: "421 4.4.2 idle timeout", Close: true}} {
		t.Run(fmt.Sprintf("%+v", a), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{Handler: on("MAIL", 2, a)})
			m := newMailer(t, fakeOpts(srv))
			for i := range 3 {
				require.NoError(t, sendTo(context.Background(), m, "ada@example.test", fmt.Sprint("idle:", i)))
			}
			require.Equal(t, 3, srv.Accepted())
			require.Equal(t, 2, srv.Sessions())
		})
	}
}

// The task's context ends a stalled send at once, whatever SendTimeout.
func TestContextEndsStalledSend(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Handler: on(smtptest.DataEnd, 0, smtptest.Action{Stall: true})})
	o := fakeOpts(srv)
	o.SMTP.SendTimeout = time.Hour
	m := newMailer(t, o)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sendTo(ctx, m, "ada@example.test", "ctx")
	require.True(t, mailer.IsTemporary(err), "%v", err)
	require.Less(t, time.Since(start), slack)
}

// Close waits for nothing stuck and refuses later sends.
func TestClosedMailerRefuses(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, fakeOpts(srv))
	require.NoError(t, sendTo(context.Background(), m, "ada@example.test", "close:1"))
	require.NoError(t, m.Close())
	err := sendTo(context.Background(), m, "ada@example.test", "close:2")
	require.ErrorIs(t, err, mailer.ErrClosed)
	require.True(t, errors.Is(err, mailer.ErrClosed) && mailer.IsTemporary(err))
}
