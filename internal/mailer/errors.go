package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Class says whether a failed delivery is worth retrying.
type Class int

// Classes of failure.
const (
	// Temporary failures (4xx replies, timeouts, dropped connections) are
	// retried with backoff.
	Temporary Class = iota + 1
	// Permanent failures (5xx replies, invalid addresses, rejected
	// credentials, a configuration the server cannot meet) are not.
	Permanent
	// Paused: the transport stopped dialling for a while after a
	// configuration failure (see SMTPOptions.FailurePause); the mail is not
	// at fault and should wait RetryAfter without failing.
	Paused
)

func (c Class) String() string {
	switch c {
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case Paused:
		return "paused"
	}
	return "unknown"
}

// Sentinel causes owned by the mailer.
var (
	// ErrNoSTARTTLS: tls is mandatory and the server does not offer
	// STARTTLS. Nothing (no AUTH, no MAIL FROM) was sent.
	ErrNoSTARTTLS = errors.New("server does not offer STARTTLS and mail.smtp.tls is mandatory")
	// ErrInsecureAuth: the only usable mechanism would send the password
	// over an unencrypted connection, and allow_insecure_auth is off.
	ErrInsecureAuth = errors.New("refusing to send credentials over an unencrypted connection " +
		"(set mail.smtp.allow_insecure_auth to allow it)")
	// ErrNoAuthMechanism: the server offers none of the mechanisms allowed.
	ErrNoAuthMechanism = errors.New("server offers no usable AUTH mechanism")
	// ErrClosed: the mailer was closed.
	ErrClosed = errors.New("mailer closed")
	// ErrTemplate: a template is missing or does not render with the data.
	ErrTemplate = errors.New("template")
	// ErrAddress: an address does not parse.
	ErrAddress = errors.New("invalid address")
)

// Error is a failed delivery, classified.
type Error struct {
	// Class says whether to retry.
	Class Class
	// Op is the step that failed: "dial", "auth", "mail from", "rcpt to",
	// "data", "write", ...
	Op string
	// Code is the SMTP reply code, 0 when the server gave none (network
	// errors, timeouts).
	Code int
	// Enhanced is the enhanced status code ("5.1.1") when the server gave one.
	Enhanced string
	// Reply is the server's reply or the network error, without recipient
	// addresses.
	Reply string
	// RetryAfter is how long a Paused transport stays paused.
	RetryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("smtp %s (%s): %s", e.Op, e.Class, e.Reply)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.err }

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Class == Permanent
}

// PausedFor returns how long to wait when err is a Paused failure.
func PausedFor(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Class == Paused {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsTemporary reports whether err is a temporary delivery failure.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Class == Temporary
}

var enhancedRE = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// classifyReply classifies by an SMTP reply code: 5xx permanent, anything
// else (4xx, or no reply at all: timeouts, resets, EOF) temporary. go-mail
// marks only replies starting with 4 as temporary; a dropped connection is
// temporary too.
func classifyReply(code int) Class {
	if code >= 500 && code < 600 {
		return Permanent
	}
	return Temporary
}

// classifyDial classifies an error from connecting: TCP, greeting, EHLO,
// STARTTLS, AUTH.
func classifyDial(err error) *Error {
	e := &Error{Op: "dial", Class: Temporary, Reply: err.Error(), err: err}
	var tpe *textproto.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, ErrNoSTARTTLS), errors.Is(err, ErrInsecureAuth), errors.Is(err, ErrNoAuthMechanism):
		e.Op, e.Class = "tls/auth policy", Permanent
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		e.Op, e.Class = "tls", Permanent
	case errors.As(err, &tpe):
		e.Code, e.Class = tpe.Code, classifyReply(tpe.Code)
		e.Reply = redactAddrs(fmt.Sprintf("%d %s", tpe.Code, tpe.Msg))
		e.Enhanced = enhancedRE.FindString(tpe.Msg)
		if strings.Contains(err.Error(), "SMTP AUTH failed") {
			e.Op = "auth"
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Class = Temporary
	}
	return e
}

// sendOps names go-mail's send steps.
var sendOps = map[gomail.SendErrReason]string{
	gomail.ErrGetSender: "from", gomail.ErrGetRcpts: "to", gomail.ErrSMTPMailFrom: "mail from",
	gomail.ErrSMTPRcptTo: "rcpt to", gomail.ErrSMTPData: "data", gomail.ErrSMTPDataClose: "data end",
	gomail.ErrSMTPReset: "rset", gomail.ErrWriteContent: "write", gomail.ErrConnCheck: "noop",
	gomail.ErrNoUnencoded: "8bitmime",
}

// classifySend classifies an error from go-mail's Send for one message that
// was not delivered.
func classifySend(err error) *Error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return classifyDial(err)
	}
	e := &Error{
		Op: sendOps[se.Reason], Code: se.ErrorCode(), Enhanced: se.EnhancedStatusCode(),
		Reply: sendReply(se), err: err,
	}
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		e.Class = Permanent
	default:
		e.Class = classifyReply(e.Code)
	}
	if e.Enhanced == "" && e.Code != 0 {
		e.Enhanced = enhancedRE.FindString(e.Reply)
	}
	return e
}

// sendReply is the server's part of a SendError's text: go-mail appends
// the recipients and the Message-ID, which do not belong in task errors.
func sendReply(se *gomail.SendError) string {
	s := strings.TrimPrefix(se.Error(), se.Reason.String())
	s = strings.TrimPrefix(s, ":")
	if i := strings.Index(s, ", affected recipient(s):"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ", affected message ID:"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "" {
		s = se.Reason.String()
	}
	// Since Go 1.26 textproto.Error quotes the reply text: 550 "5.1.1 ...".
	s = quotedReply.ReplaceAllStringFunc(s, func(m string) string {
		if u, err := strconv.Unquote(m[4:]); err == nil {
			return m[:4] + u
		}
		return m
	})
	return redactAddrs(s)
}

var addrRE = regexp.MustCompile(`[^\s<>"'(),;:]+@([A-Za-z0-9.-]+)`)

// redactAddrs hides the local part of addresses a server echoes in its
// reply ("550 5.1.1 <ada@example.test>: Recipient address rejected"):
// replies end up in task errors and log lines, which carry no addresses.
// The domain stays, since it tells which receiver refused.
func redactAddrs(s string) string {
	return addrRE.ReplaceAllString(s, "***@$1")
}

var quotedReply = regexp.MustCompile(`\b[2-5]\d\d "(?:[^"\\]|\\.)*"`)
