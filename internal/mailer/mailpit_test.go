package mailer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// testDomain is a recipient domain unique to the calling test, so tests
// sharing one mailpit find their own mail.
func testDomain(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + hex.EncodeToString(b) + ".test"
}

// waitMessages polls mailpit until query finds n messages (or fails).
func waitMessages(t testing.TB, mp *testenv.Mailpit, query string, n int) []testenv.MailSummary {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := mp.Messages(t, query)
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEveryTemplateArrivesWithBothParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mp := testenv.SharedMailpit(t)
	m := newMailer(t, plainSMTP(mp.SMTPHost, mp.SMTPPort))
	domain := testDomain(t)

	for _, name := range tasks.MailTemplates {
		to := name + "@" + domain
		id, err := send(ctx, m, name, "Ada Lovelace <"+to+">", "test:"+domain+":"+name, sampleData()[name])
		require.NoError(t, err, name)

		msgs := waitMessages(t, mp, "to:"+to, 1)
		require.Len(t, msgs, 1, name)
		require.Equal(t, id, msgs[0].MessageID, name)
		full := mp.Message(t, msgs[0].ID)
		require.NotEmpty(t, full["Text"], name)
		require.NotEmpty(t, full["HTML"], name)
		require.Contains(t, full["HTML"], "<html", name)
	}
	require.Equal(t, int64(1), m.Stats().Dials, "seven mails over one reused session")
}

// B17: non-ASCII subjects and display names round-trip exactly.
func TestNonASCIINamesAndSubjectsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mp := testenv.SharedMailpit(t)
	domain := testDomain(t)

	const subject = "Ihre Bestellung Nr. 4711 – Bestätigung ✓ (Größe: 42)"
	long := strings.Repeat("Größe ✓ 王 ", 200) // one line of ~2.6 kB
	dir := t.TempDir()
	sub := filepath.Join(dir, tasks.TemplateOrderConfirmation)
	require.NoError(t, os.MkdirAll(sub, 0o750))
	files := map[string]string{
		"subject.txt": "Ihre Bestellung Nr. {{.order_id}} – Bestätigung ✓ (Größe: 42)",
		"body.txt":    "Hallo {{.customer_name}},\nvielen Dank! 谢谢！\n{{.long}}\n",
		"body.html":   "<p>Hallo {{.customer_name}},</p><p>vielen Dank! 谢谢！</p><p>{{.long}}</p>",
	}
	for f, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(sub, f), []byte(body), 0o600))
	}

	o := plainSMTP(mp.SMTPHost, mp.SMTPPort)
	o.TemplatesDir = dir
	o.From = `"Schuhhaus Ødegård & Söhne" <shop@` + domain + `>`
	o.ReplyTo = `"Kundenservice Größe & Passform" <service@` + domain + `>`
	m := newMailer(t, o)

	customers := []struct{ name, local string }{
		{"Zoë Müller-Lüdenscheidt", "zoe.mueller"},
		{"王小明", "wang.xiaoming"},
		{"Søren Ødegård", "soeren.odegaard"},
	}
	for i, c := range customers {
		addr := c.local + "@" + domain
		to := (&mail.Address{Name: c.name, Address: addr}).String()
		_, err := send(ctx, m, tasks.TemplateOrderConfirmation, to, "b17:"+domain+":"+c.local,
			map[string]any{"order_id": "4711", "customer_name": c.name, "long": long})
		require.NoError(t, err, i)

		msgs := waitMessages(t, mp, "to:"+addr, 1)
		require.Len(t, msgs, 1)
		raw := mp.Raw(t, msgs[0].ID)
		checkRawMessage(t, raw)

		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		var dec mime.WordDecoder
		gotSubject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		require.Equal(t, subject, gotSubject)

		for _, h := range []struct{ header, name, addr string }{
			{"To", c.name, addr},
			{"From", "Schuhhaus Ødegård & Söhne", "shop@" + domain},
			{"Reply-To", "Kundenservice Größe & Passform", "service@" + domain},
		} {
			list, err := msg.Header.AddressList(h.header)
			require.NoError(t, err, h.header)
			require.Len(t, list, 1, h.header)
			require.Equal(t, h.name, list[0].Name, h.header)
			require.Equal(t, h.addr, list[0].Address, h.header)
			require.Contains(t, msg.Header.Get(h.header), "<"+h.addr+">", "addr-spec stays outside encoded words")
		}

		text, html := bodies(t, msg)
		require.Contains(t, text, "Hallo "+c.name+",\n")
		require.Contains(t, text, "vielen Dank! 谢谢！")
		require.Contains(t, text, strings.TrimSpace(long))
		require.Contains(t, html, "Hallo "+c.name+",")
	}
}

var encodedWord = regexp.MustCompile(`=\?[^?]+\?[qQbB]\?[^?]*\?=`)

// checkRawMessage checks the wire form: 7-bit headers, no line over 998
// octets, encoded words that hold no address.
func checkRawMessage(t *testing.T, raw []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	require.True(t, ok, "header and body separated by CRLF CRLF")
	for i, b := range head {
		require.Less(t, b, byte(0x80), "header byte %d is not 7-bit", i)
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		require.LessOrEqual(t, len(line), 998, "line longer than 998 octets")
	}
	var dec mime.WordDecoder
	for _, w := range encodedWord.FindAll(head, -1) {
		s, err := dec.Decode(string(w))
		require.NoError(t, err)
		require.NotContains(t, s, "@", "an addr-spec inside an encoded word: %s", w)
	}
}

// bodies returns the decoded text/plain and text/html parts, checking
// each is declared UTF-8.
func bodies(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	var walk func(ct string, r io.Reader, cte string)
	walk = func(ct string, r io.Reader, cte string) {
		mt, params, err := mime.ParseMediaType(ct)
		require.NoError(t, err)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				require.NoError(t, err)
				walk(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Transfer-Encoding"))
			}
		}
		require.True(t, strings.EqualFold(params["charset"], "utf-8"), "%s declared %q", mt, params["charset"])
		if strings.EqualFold(cte, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch mt {
		case "text/plain":
			text = body
		case "text/html":
			html = body
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	require.NotEmpty(t, text, "text part")
	require.NotEmpty(t, html, "html part")
	return text, html
}

// STARTTLS and authentication against a real server, each mechanism.
func TestSTARTTLSAndAuthWithMailpit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	certs := selfSigned(t)
	mp := testenv.StartMailpit(t, "--smtp-auth-accept-any", "--smtp-require-starttls",
		"--smtp-tls-cert", certs.CertFile, "--smtp-tls-key", certs.KeyFile)

	for _, auth := range []string{mailer.AuthAuto, mailer.AuthPlain, mailer.AuthLogin} {
		t.Run(auth, func(t *testing.T) {
			o := plainSMTP(mp.SMTPHost, mp.SMTPPort)
			o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, auth, certs.Client
			o.SMTP.Username, o.SMTP.Password = "shop", "s3cret"
			m := newMailer(t, o)
			to := auth + "@" + testDomain(t)
			for i := range 3 {
				_, err := send(ctx, m, tasks.TemplateOrderFailed, to, "tls:"+to+":"+string(rune('a'+i)),
					sampleData()[tasks.TemplateOrderFailed])
				require.NoError(t, err)
			}
			require.Len(t, waitMessages(t, mp, "to:"+to, 3), 3)
			require.Equal(t, int64(1), m.Stats().Dials)
		})
	}

	t.Run("UntrustedCertificateIsPermanent", func(t *testing.T) {
		o := plainSMTP(mp.SMTPHost, mp.SMTPPort)
		o.SMTP.TLS = mailer.TLSMandatory
		m := newMailer(t, o)
		_, err := send(ctx, m, tasks.TemplateOrderFailed, "x@"+testDomain(t), "tls:untrusted",
			sampleData()[tasks.TemplateOrderFailed])
		require.Error(t, err)
		require.True(t, mailer.IsPermanent(err), "%v", err)
	})
}

func TestImplicitTLSWithMailpit(t *testing.T) {
	t.Parallel()
	certs := selfSigned(t)
	mp := testenv.StartMailpit(t, "--smtp-auth-accept-any", "--smtp-require-tls",
		"--smtp-tls-cert", certs.CertFile, "--smtp-tls-key", certs.KeyFile)

	o := plainSMTP(mp.SMTPHost, mp.SMTPPort)
	o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSImplicit, mailer.AuthAuto, certs.Client
	o.SMTP.Username, o.SMTP.Password = "shop", "s3cret"
	m := newMailer(t, o)
	to := "implicit@" + testDomain(t)
	_, err := send(context.Background(), m, tasks.TemplateOrderFailed, to, "implicit:"+to,
		sampleData()[tasks.TemplateOrderFailed])
	require.NoError(t, err)
	require.Len(t, waitMessages(t, mp, "to:"+to, 1), 1)
}

func TestFileTransportWritesOneEMLPerEffectKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	m := newMailer(t, mailer.Options{Transport: mailer.TransportFile, OutboxDir: dir})

	for range 2 {
		_, err := send(ctx, m, tasks.TemplateShipmentUpdate, "Zoë <zoe@example.test>", "ship:A-1003",
			sampleData()[tasks.TemplateShipmentUpdate])
		require.NoError(t, err)
	}
	id, err := send(ctx, m, tasks.TemplateShipmentUpdate, "zoe@example.test", "ship:A-1004",
		sampleData()[tasks.TemplateShipmentUpdate])
	require.NoError(t, err)

	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, 2, "the same effect key replaces its file")
	raw, err := os.ReadFile(filepath.Join(dir, strings.Split(id, "@")[0]+".eml"))
	require.NoError(t, err)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, "<"+id+">", msg.Header.Get("Message-Id"))
	text, html := bodies(t, msg)
	require.Contains(t, text, "JJD000390007")
	require.Contains(t, html, "https://track.example.test/JJD000390007")
}
