package mailer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
)

// Transports.
const (
	// TransportSMTP sends through an SMTP server.
	TransportSMTP = "smtp"
	// TransportFile writes each mail as an .eml file to Options.OutboxDir.
	TransportFile = "file"
)

// TLS policies.
const (
	// TLSMandatory requires STARTTLS: a server that does not offer it fails
	// the connection before anything else (AUTH, MAIL FROM) is sent.
	TLSMandatory = "mandatory"
	// TLSOpportunistic uses STARTTLS when offered and plain SMTP otherwise.
	TLSOpportunistic = "opportunistic"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "implicit"
	// TLSNone never encrypts.
	TLSNone = "none"
)

// Authentication mechanisms.
const (
	AuthNone    = "none"
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthCramMD5 = "cram-md5"
	// AuthAuto picks the best mechanism the server offers: CRAM-MD5, PLAIN,
	// LOGIN on an encrypted connection; only CRAM-MD5 (which never sends the
	// password) on a plain one unless AllowInsecureAuth is set.
	AuthAuto = "auto"
)

// Defaults applied by Options.withDefaults.
const (
	DefaultTransport    = TransportFile
	DefaultOutboxDir    = "outbox"
	DefaultTLS          = TLSMandatory
	DefaultSMTPPort     = 587
	DefaultImplicitPort = 465
	DefaultPlainPort    = 25
	DefaultDialTimeout  = 10 * time.Second
	DefaultSendTimeout  = 30 * time.Second
	DefaultPoolSize     = 2
	DefaultFailurePause = 15 * time.Second
)

// Options configure a Mailer.
type Options struct {
	// Transport is "smtp" or "file". Default: file.
	Transport string `mapstructure:"transport"`
	// From is the sender, optionally with a display name in any language:
	// "Größenberatung Shop <shop@example.test>". Required.
	From string `mapstructure:"from"`
	// ReplyTo is an optional Reply-To address with display name.
	ReplyTo string `mapstructure:"reply_to"`
	// ShopName is passed to every template as shop_name. Default: the
	// display name of From, else "shopq".
	ShopName string `mapstructure:"shop_name"`
	// OutboxDir receives .eml files with the file transport. Default: outbox.
	OutboxDir string `mapstructure:"outbox_dir"`
	// TemplatesDir overrides the embedded templates file by file (same
	// layout: <name>/subject.txt, body.txt, body.html). Default: none.
	TemplatesDir string `mapstructure:"templates_dir"`
	// SMTP configures the smtp transport.
	SMTP SMTPOptions `mapstructure:"smtp"`
	// RatePerSecond limits mails per second for this transport across every
	// worker (a Redis-wide limit); 0 or less means unlimited. Default: 0 here;
	// the worker configuration sets 50.
	RatePerSecond float64 `mapstructure:"rate_per_second"`
	// EffectTTL keeps the record that an effect key's mail was sent.
	// Default: the store's Lifetimes.MailEffect (30 days).
	EffectTTL time.Duration `mapstructure:"effect_ttl"`
}

// SMTPOptions configure the smtp transport.
type SMTPOptions struct {
	// Host is the server name; it is also the name its certificate must
	// carry. Required with the smtp transport.
	Host string `mapstructure:"host"`
	// Port. Default: 587, or 465 with tls: implicit, or 25 with tls: none.
	Port int `mapstructure:"port"`
	// Username and Password authenticate; Password is never logged and never
	// part of an error. Give it by environment (SHOPQ_MAIL_SMTP_PASSWORD).
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// TLS is mandatory, opportunistic, implicit or none. Default: mandatory.
	TLS string `mapstructure:"tls"`
	// Auth is plain, login, cram-md5, auto or none; auto without a Username
	// means none. Default: auto.
	Auth string `mapstructure:"auth"`
	// AllowInsecureAuth lets PLAIN and LOGIN send credentials over an
	// unencrypted connection. Default: false.
	AllowInsecureAuth bool `mapstructure:"allow_insecure_auth"`
	// DialTimeout bounds connecting: TCP, greeting, EHLO, STARTTLS and AUTH.
	// Default: 10s.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// SendTimeout bounds one mail on an open connection (NOOP, MAIL, RCPT,
	// DATA, RSET). Default: 30s.
	SendTimeout time.Duration `mapstructure:"send_timeout"`
	// PoolSize is the number of connections kept open and reused, per
	// worker process. Default: 2.
	PoolSize int `mapstructure:"pool_size"`
	// FailurePause is how long the transport stops dialling after a
	// configuration failure (rejected credentials, no STARTTLS under
	// mandatory, an untrusted certificate), so a broken setup costs one
	// attempt per pause instead of one per mail. The mail that met the
	// failure is permanent; mails meanwhile are rescheduled. Default: 15s.
	FailurePause time.Duration `mapstructure:"failure_pause"`
	// ConnectPerMail opens a new connection for every mail and closes it
	// afterwards (for servers that allow one mail per session, and for
	// comparison benchmarks). Default: false.
	ConnectPerMail bool `mapstructure:"connect_per_mail"`
	// HELO is the name sent with EHLO. Default: the host name.
	HELO string `mapstructure:"helo"`
	// TLSConfig overrides certificate checks (tests use it to trust a
	// local certificate); ServerName defaults to Host.
	TLSConfig *tls.Config `mapstructure:"-"`
}

// Redacted returns a copy safe to print: the password is replaced.
func (o Options) Redacted() Options {
	if o.SMTP.Password != "" {
		o.SMTP.Password = "REDACTED"
	}
	return o
}

// LogValue keeps the password out of logs when Options are logged.
func (o Options) LogValue() slog.Value {
	r := o.Redacted()
	return slog.GroupValue(
		slog.String("transport", r.Transport),
		slog.String("smtp_host", r.SMTP.Host),
		slog.Int("smtp_port", r.SMTP.Port),
		slog.String("smtp_tls", r.SMTP.TLS),
		slog.String("smtp_auth", r.SMTP.Auth),
		slog.Int("smtp_pool_size", r.SMTP.PoolSize),
		slog.Float64("rate_per_second", r.RatePerSecond),
	)
}

// String keeps the password out of fmt output.
func (o SMTPOptions) String() string {
	pw := ""
	if o.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("{host=%s port=%d user=%s password=%s tls=%s auth=%s}",
		o.Host, o.Port, o.Username, pw, o.TLS, o.Auth)
}

// GoString keeps the password out of %#v output.
func (o SMTPOptions) GoString() string { return o.String() }

// withDefaults returns o with every unset field at its default.
func (o Options) withDefaults() Options {
	if o.Transport == "" {
		o.Transport = DefaultTransport
	}
	if o.OutboxDir == "" {
		o.OutboxDir = DefaultOutboxDir
	}
	if o.ShopName == "" {
		o.ShopName = "shopq"
		if a, err := mail.ParseAddress(o.From); err == nil && a.Name != "" {
			o.ShopName = a.Name
		}
	}
	o.SMTP = o.SMTP.withDefaults()
	return o
}

func (o SMTPOptions) withDefaults() SMTPOptions {
	o.TLS = strings.ToLower(o.TLS)
	o.Auth = strings.ToLower(o.Auth)
	if o.TLS == "" {
		o.TLS = DefaultTLS
	}
	if o.Port == 0 {
		switch o.TLS {
		case TLSImplicit:
			o.Port = DefaultImplicitPort
		case TLSNone:
			o.Port = DefaultPlainPort
		default:
			o.Port = DefaultSMTPPort
		}
	}
	if o.Auth == "" || (o.Auth == AuthAuto && o.Username == "") {
		// auto: authenticate when credentials are given.
		o.Auth = AuthNone
		if o.Username != "" {
			o.Auth = AuthAuto
		}
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.FailurePause <= 0 {
		o.FailurePause = DefaultFailurePause
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	return o
}

// Validate reports every problem of o (after defaults) at once.
func (o Options) Validate() error {
	var errs []error
	if o.From == "" {
		errs = append(errs, errors.New("mail.from: is required"))
	} else if _, err := mail.ParseAddress(o.From); err != nil {
		errs = append(errs, fmt.Errorf("mail.from: %q is not an address: %w", o.From, err))
	}
	if o.ReplyTo != "" {
		if _, err := mail.ParseAddress(o.ReplyTo); err != nil {
			errs = append(errs, fmt.Errorf("mail.reply_to: %q is not an address: %w", o.ReplyTo, err))
		}
	}
	switch o.Transport {
	case TransportFile:
		if o.OutboxDir == "" {
			errs = append(errs, errors.New("mail.outbox_dir: is required with transport file"))
		}
	case TransportSMTP:
		errs = append(errs, o.SMTP.validate()...)
	default:
		errs = append(errs, fmt.Errorf("mail.transport: %q is not smtp or file", o.Transport))
	}
	if o.EffectTTL < 0 {
		errs = append(errs, fmt.Errorf("mail.effect_ttl: %v is negative", o.EffectTTL))
	}
	return errors.Join(errs...)
}

func (o SMTPOptions) validate() []error {
	var errs []error
	if o.Host == "" {
		errs = append(errs, errors.New("mail.smtp.host: is required with transport smtp"))
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("mail.smtp.port: %d is not a TCP port", o.Port))
	}
	switch o.TLS {
	case TLSMandatory, TLSOpportunistic, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("mail.smtp.tls: %q is not mandatory, opportunistic, implicit or none", o.TLS))
	}
	switch o.Auth {
	case AuthNone:
	case AuthPlain, AuthLogin, AuthCramMD5, AuthAuto:
		if o.Username == "" {
			errs = append(errs, fmt.Errorf("mail.smtp.username: is required with auth %s", o.Auth))
		}
	default:
		errs = append(errs, fmt.Errorf("mail.smtp.auth: %q is not plain, login, cram-md5, auto or none", o.Auth))
	}
	if o.TLS == TLSNone && !o.AllowInsecureAuth && (o.Auth == AuthPlain || o.Auth == AuthLogin) {
		errs = append(errs, fmt.Errorf("mail.smtp.auth: %s over tls: none sends the password in clear; "+
			"set allow_insecure_auth to accept that", o.Auth))
	}
	return errs
}
