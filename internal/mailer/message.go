package mailer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// MessageID returns the Message-ID (without angle brackets) of the mail for
// effectKey: the same key gives the same ID, so a mail resent after a crash
// between the server's acceptance and the effect record can be recognised
// and dropped by the receiving systems.
func MessageID(effectKey, domain string) string {
	sum := sha256.Sum256([]byte(effectKey))
	return hex.EncodeToString(sum[:20]) + "@" + domain
}

// HeaderTemplate names the template a mail was rendered from.
const HeaderTemplate = "X-Shopq-Template"

// Compose builds the message for a rendered template.
//
// Headers stay 7-bit: go-mail encodes the subject and display names as RFC
// 2047 encoded words, never the addr-spec, and folds long header lines.
// Bodies are UTF-8, quoted-printable, so no line exceeds 998 octets.
func (m *Mailer) Compose(to string, r Rendered, effectKey string, now time.Time) (*gomail.Msg, string, error) {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, "", fmt.Errorf("%w: to: %w", ErrAddress, err)
	}

	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.from)
	msg.ToMailAddress(rcpt)
	if m.replyTo != nil {
		msg.ReplyToMailAddress(m.replyTo)
	}
	msg.Subject(r.Subject)
	id := MessageID(effectKey, m.domain)
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(now)
	if r.Template != "" {
		msg.SetGenHeader(HeaderTemplate, r.Template)
	}
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	return msg, id, nil
}

// domainOf returns the domain of an address for Message-IDs.
func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 && at < len(addr)-1 {
		return strings.ToLower(addr[at+1:])
	}
	return "shopq.invalid"
}
