package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/shopq/shopq/internal/store"
)

// Transport delivers one composed message.
type Transport interface {
	// Send delivers msg; a failure is an *Error with its Class.
	Send(ctx context.Context, msg *gomail.Msg) error
	// Close releases connections.
	Close() error
}

// Mailer renders, sends and records mail.
type Mailer struct {
	opts      Options
	store     *store.Store
	log       *slog.Logger
	templates *Templates
	transport Transport
	from      *mail.Address
	replyTo   *mail.Address
	domain    string
	effectTTL time.Duration
}

// New checks opts, loads the templates and opens the transport (SMTP
// sessions are dialled on first use). st keeps effect records and the rate
// limit (without it, Claim, Record and Allow fail: only Render, Compose and
// Send work, as benchmarks need); logger may be nil.
func New(opts Options, st *store.Store, logger *slog.Logger) (*Mailer, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tpl, err := LoadTemplates(opts.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}

	m := &Mailer{opts: opts, store: st, log: logger, templates: tpl, effectTTL: opts.EffectTTL}
	if m.effectTTL <= 0 {
		m.effectTTL = store.DefaultLifetimes().MailEffect
		if st != nil {
			m.effectTTL = st.Lifetimes.MailEffect
		}
	}
	m.from, _ = mail.ParseAddress(opts.From) // checked by Validate
	m.domain = domainOf(m.from.Address)
	if opts.ReplyTo != "" {
		m.replyTo, _ = mail.ParseAddress(opts.ReplyTo)
	}

	switch opts.Transport {
	case TransportSMTP:
		m.transport, err = newSMTPTransport(opts.SMTP, logger)
	default:
		m.transport, err = newFileTransport(opts.OutboxDir)
	}
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	return m, nil
}

// Options returns the effective options (defaults applied).
func (m *Mailer) Options() Options { return m.opts }

// Render renders a template with data; shop_name is added when data lacks it.
func (m *Mailer) Render(name string, data map[string]any) (Rendered, error) {
	d := make(map[string]any, len(data)+1)
	d["shop_name"] = m.opts.ShopName
	for k, v := range data {
		d[k] = v
	}
	return m.templates.Render(name, d)
}

// Send delivers msg through the transport.
func (m *Mailer) Send(ctx context.Context, msg *gomail.Msg) error {
	return m.transport.Send(ctx, msg)
}

// MessageID returns the Message-ID of the mail for effectKey.
func (m *Mailer) MessageID(effectKey string) string { return MessageID(effectKey, m.domain) }

// Stats are counters for tests and benchmarks.
type Stats struct {
	// Dials is the number of SMTP sessions opened.
	Dials int64
}

// Stats returns the mailer's counters.
func (m *Mailer) Stats() Stats {
	if t, ok := m.transport.(*smtpTransport); ok {
		return Stats{Dials: t.dials.Load()}
	}
	return Stats{}
}

// Close ends the transport's sessions.
func (m *Mailer) Close() error { return m.transport.Close() }
