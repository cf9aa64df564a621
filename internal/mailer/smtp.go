package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// quitTimeout bounds the polite end of a session (QUIT, RSET after an
// error); a server that does not answer in time is simply disconnected.
const quitTimeout = 2 * time.Second

// smtpTransport keeps a pool of PoolSize SMTP sessions and reuses them: a
// dial, EHLO, STARTTLS and AUTH cost several round trips and a TLS
// handshake, a mail on an open session three or four.
//
// Each slot is owned by one sender at a time (the channel is the pool's
// mutex). A session is reset (RSET) after a rejected mail, so the next MAIL
// FROM does not meet a half-open transaction ("nested MAIL command"), and
// closed after any error that leaves its state unknown (timeouts, resets,
// 421). A session the server closed while idle shows at the next MAIL FROM
// and is dialled again once, within the same send deadline, since nothing
// of the mail was sent on it.
type smtpTransport struct {
	opts   SMTPOptions
	tlsCfg *tls.Config
	log    *slog.Logger
	slots  chan *slot
	done   chan struct{}
	closed atomic.Bool
	dials  atomic.Int64

	pauseMu     sync.Mutex
	pausedUntil time.Time
	pauseCause  *Error
}

// slot is one pooled session.
type slot struct {
	gm   *gomail.Client
	c    *smtp.Client  // the session; nil when closed
	conn *deadlineConn // its connection
}

func newSMTPTransport(o SMTPOptions, log *slog.Logger) (*smtpTransport, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = o.Host
	}

	t := &smtpTransport{
		opts: o, tlsCfg: cfg, log: log,
		slots: make(chan *slot, o.PoolSize), done: make(chan struct{}),
	}
	for range o.PoolSize {
		gm, err := t.newClient()
		if err != nil {
			return nil, err
		}
		t.slots <- &slot{gm: gm}
	}
	return t, nil
}

// newClient configures one go-mail client; each slot has its own, because
// an authentication exchange keeps state.
func (t *smtpTransport) newClient() (*gomail.Client, error) {
	o := t.opts
	opts := []gomail.Option{
		gomail.WithPort(o.Port),
		// Our deadlineConn enforces DialTimeout and SendTimeout; go-mail's
		// own timeout must not be the shorter one.
		gomail.WithTimeout(max(o.DialTimeout, o.SendTimeout)),
		gomail.WithTLSConfig(t.tlsCfg),
		gomail.WithDialContextFunc(t.dialContext),
		// A mail on a reused session is MAIL, RCPT, DATA and the content:
		// no NOOP before it (a closed session shows at MAIL FROM, and is
		// dialled again, see isStale) and no RSET after a delivered mail
		// (the transaction is over). RSET follows errors only (recover).
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch o.TLS {
	case TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default: // implicit: dialContext wraps TLS itself; none: plain
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if o.HELO != "" {
		opts = append(opts, gomail.WithHELO(o.HELO))
	}
	if o.Auth != AuthNone {
		opts = append(opts, gomail.WithSMTPAuthCustom(&authSelector{
			mech: o.Auth, user: o.Username, pass: o.Password, allowInsecure: o.AllowInsecureAuth,
		}))
	}
	gm, err := gomail.NewClient(o.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return gm, nil
}

// Send delivers msg on a pooled session. An error after the server's final
// reply to DATA accepted the mail (a dropped connection, a failing QUIT)
// counts as sent: resending would make a duplicate.
func (t *smtpTransport) Send(ctx context.Context, msg *gomail.Msg) error {
	s, err := t.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { t.slots <- s }()

	dl := deadline(ctx, t.opts.SendTimeout) // one budget, even when dialling again
	for attempt := 0; ; attempt++ {
		reused := s.c != nil
		if !reused {
			if p := t.paused(); p != nil {
				return p
			}
			if err := t.dial(ctx, s); err != nil {
				e := classifyDial(err)
				if e.Class == Permanent {
					t.pause(e)
				}
				return e
			}
			t.resume()
		}

		err := t.sendOn(ctx, s, msg, dl)
		switch {
		case err == nil:
			if t.opts.ConnectPerMail {
				t.quit(s)
			}
			return nil
		case msg.IsDelivered():
			t.log.Debug("mail accepted, session failed after it", slog.String("error", err.Error()))
			t.hangup(s)
			return nil
		case reused && attempt == 0 && isStale(err):
			// The server closed the idle session; nothing was sent on it.
			t.hangup(s)
			continue
		}
		t.recover(s, err)
		return classifySend(err)
	}
}

// pause stops dialling for FailurePause after a configuration failure, and
// raises one alert (an Error log line) when the transport goes from
// working to broken, not one per mail.
func (t *smtpTransport) pause(cause *Error) {
	t.pauseMu.Lock()
	defer t.pauseMu.Unlock()
	if t.pauseCause == nil {
		t.log.Error("smtp transport broken: dialling paused; check mail.smtp settings",
			slog.String("error", cause.Error()), slog.Duration("pause", t.opts.FailurePause))
	}
	t.pausedUntil, t.pauseCause = time.Now().Add(t.opts.FailurePause), cause
}

// paused returns a Paused error while a pause lasts.
func (t *smtpTransport) paused() *Error {
	t.pauseMu.Lock()
	defer t.pauseMu.Unlock()
	left := time.Until(t.pausedUntil)
	if t.pauseCause == nil || left <= 0 {
		return nil
	}
	c := t.pauseCause
	return &Error{Class: Paused, Op: c.Op, Code: c.Code, Enhanced: c.Enhanced, RetryAfter: left,
		Reply: "transport paused after: " + c.Reply, err: c.err}
}

// resume ends the broken state after a successful dial.
func (t *smtpTransport) resume() {
	t.pauseMu.Lock()
	defer t.pauseMu.Unlock()
	if t.pauseCause != nil {
		t.log.Info("smtp transport working again")
		t.pauseCause = nil
	}
}

func (t *smtpTransport) acquire(ctx context.Context) (*slot, error) {
	if t.closed.Load() {
		return nil, &Error{Class: Temporary, Op: "pool", Reply: ErrClosed.Error(), err: ErrClosed}
	}
	select {
	case s := <-t.slots:
		return s, nil
	case <-t.done:
		return nil, &Error{Class: Temporary, Op: "pool", Reply: ErrClosed.Error(), err: ErrClosed}
	case <-ctx.Done():
		return nil, &Error{Class: Temporary, Op: "pool", Reply: ctx.Err().Error(), err: ctx.Err()}
	}
}

func (t *smtpTransport) sendOn(ctx context.Context, s *slot, msg *gomail.Msg, dl time.Time) error {
	s.conn.setLimit(dl)
	stop := context.AfterFunc(ctx, s.conn.abort)
	defer stop()
	return s.gm.SendWithSMTPClient(s.c, msg)
}

// recover makes a session usable after a rejected mail, or closes it.
func (t *smtpTransport) recover(s *slot, err error) {
	var se *gomail.SendError
	if t.opts.ConnectPerMail || !errors.As(err, &se) || se.ErrorCode() == 0 || se.ErrorCode() == 421 {
		t.hangup(s) // state unknown (network error, timeout) or server closing
		return
	}
	s.conn.setLimit(time.Now().Add(min(quitTimeout, t.opts.SendTimeout)))
	if rerr := s.c.Reset(); rerr != nil {
		t.hangup(s)
	}
}

// dial opens a session: TCP, greeting, EHLO, STARTTLS and AUTH within
// DialTimeout (and ctx).
func (t *smtpTransport) dial(ctx context.Context, s *slot) error {
	if t.closed.Load() {
		return ErrClosed
	}
	h := &dialHolder{}
	dctx, cancel := context.WithTimeout(ctx, t.opts.DialTimeout)
	defer cancel()
	dctx = context.WithValue(dctx, dialHolderKey{}, h)
	stop := context.AfterFunc(dctx, h.abort)

	c, err := s.gm.DialToSMTPClientWithContext(dctx)
	if !stop() && err == nil {
		err = fmt.Errorf("dial: %w", context.DeadlineExceeded)
	}
	conn := h.get()
	if err != nil {
		if conn != nil {
			_ = conn.Close() // go-mail leaves it open when EHLO, STARTTLS or AUTH fail
		}
		if strings.Contains(err.Error(), "does not support STARTTLS") {
			return ErrNoSTARTTLS
		}
		if dctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("no answer within dial timeout %v: %w", t.opts.DialTimeout, err)
		}
		return err
	}
	t.dials.Add(1)
	s.c, s.conn = c, conn
	return nil
}

// quit ends a healthy session politely: QUIT, then close.
func (t *smtpTransport) quit(s *slot) {
	if s.conn == nil {
		return
	}
	s.conn.setLimit(time.Now().Add(quitTimeout))
	_ = s.c.Quit()
	t.hangup(s)
}

// hangup closes a session whose state is unknown (a timeout, a reset, a
// 421) without a word: a QUIT would only wait for a server that is not
// listening.
func (t *smtpTransport) hangup(s *slot) {
	if s.conn == nil {
		return
	}
	_ = s.conn.Close()
	s.c, s.conn = nil, nil
}

// dialContext is go-mail's dialer: it wraps the connection so our
// deadlines bound every step, and speaks TLS first with tls: implicit.
func (t *smtpTransport) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: raw}
	if dl, ok := ctx.Deadline(); ok {
		dc.setLimit(dl)
	}
	if h, ok := ctx.Value(dialHolderKey{}).(*dialHolder); ok {
		h.set(dc)
	}
	if t.opts.TLS == TLSImplicit {
		return tls.Client(dc, t.tlsCfg), nil
	}
	return dc, nil
}

// Close ends every session; sends in flight finish first (they are bounded
// by their timeouts).
func (t *smtpTransport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(t.done)
	for range cap(t.slots) {
		t.quit(<-t.slots)
	}
	return nil
}

// isStale reports whether a reused session turned out closed before the
// mail began: MAIL FROM met a closed connection or the server's parting
// 421. Nothing of the mail was sent, so dialling again is safe.
func isStale(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom:
		return se.ErrorCode() == 0 || se.ErrorCode() == 421
	}
	return false
}

// deadline is now+d, or ctx's deadline when that comes first.
func deadline(ctx context.Context, d time.Duration) time.Time {
	dl := time.Now().Add(d)
	if c, ok := ctx.Deadline(); ok && c.Before(dl) {
		return c
	}
	return dl
}

type dialHolderKey struct{}

// dialHolder hands the connection go-mail dialled back to us: go-mail does
// not close it when a later step of the dial fails, and we need it to
// enforce deadlines.
type dialHolder struct {
	mu      sync.Mutex
	conn    *deadlineConn
	aborted bool
}

func (h *dialHolder) set(c *deadlineConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = c
	if h.aborted {
		c.abort()
	}
}

func (h *dialHolder) get() *deadlineConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn
}

func (h *dialHolder) abort() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.aborted = true
	if h.conn != nil {
		h.conn.abort()
	}
}

// deadlineConn caps every deadline go-mail sets at limit: go-mail sets
// one generous timeout per step, and a server that accepts TCP and never
// speaks must not hold a worker longer than DialTimeout or SendTimeout.
// abort (the task's context ended) makes every read and write fail at once.
type deadlineConn struct {
	net.Conn
	mu      sync.Mutex
	limit   time.Time
	aborted bool
}

var past = time.Unix(1, 0)

func (c *deadlineConn) clamp(t time.Time) time.Time {
	switch {
	case c.aborted:
		return past
	case !c.limit.IsZero() && (t.IsZero() || t.After(c.limit)):
		return c.limit
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetDeadline(c.clamp(t))
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *deadlineConn) setLimit(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = t
	_ = c.Conn.SetDeadline(c.clamp(t))
}

func (c *deadlineConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	_ = c.Conn.SetDeadline(past)
}

// authSelector chooses the mechanism when the server has listed its own,
// and refuses to send a password in clear: PLAIN and LOGIN need an
// encrypted connection unless AllowInsecureAuth is set. CRAM-MD5 never
// sends the password, so it is allowed on a plain connection.
type authSelector struct {
	mech, user, pass string
	allowInsecure    bool
	inner            smtp.Auth
}

func (a *authSelector) Start(si *smtp.ServerInfo) (string, []byte, error) {
	mech, err := a.choose(si)
	if err != nil {
		return "", nil, err
	}
	switch mech {
	case AuthPlain:
		a.inner = smtp.PlainAuth("", a.user, a.pass, si.Name, true)
	case AuthLogin:
		a.inner = smtp.LoginAuth(a.user, a.pass, si.Name, true)
	default:
		a.inner = smtp.CRAMMD5Auth(a.user, a.pass)
	}
	return a.inner.Start(si)
}

func (a *authSelector) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}

func (a *authSelector) choose(si *smtp.ServerInfo) (string, error) {
	offered := func(m string) bool {
		return slices.ContainsFunc(si.Auth, func(s string) bool { return strings.EqualFold(s, m) })
	}
	secure := si.TLS || a.allowInsecure
	if a.mech != AuthAuto {
		switch {
		case !offered(a.mech):
			return "", fmt.Errorf("%w: %s not offered (server offers %q)", ErrNoAuthMechanism,
				strings.ToUpper(a.mech), si.Auth)
		case !secure && a.mech != AuthCramMD5:
			return "", ErrInsecureAuth
		}
		return a.mech, nil
	}

	for _, m := range []string{AuthCramMD5, AuthPlain, AuthLogin} {
		if offered(m) && (secure || m == AuthCramMD5) {
			return m, nil
		}
	}
	if offered(AuthPlain) || offered(AuthLogin) {
		return "", ErrInsecureAuth
	}
	return "", fmt.Errorf("%w (server offers %q)", ErrNoAuthMechanism, si.Auth)
}
