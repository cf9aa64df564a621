package mailer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/tasks"
)

func TestEveryTemplateRenders(t *testing.T) {
	t.Parallel()
	tpl, err := mailer.LoadTemplates("")
	require.NoError(t, err)

	data := sampleData()
	require.Len(t, data, len(tasks.MailTemplates))
	for _, name := range tasks.MailTemplates {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := data[name]
			d["shop_name"] = "Shop"
			r, err := tpl.Render(name, d)
			require.NoError(t, err)
			require.NotEmpty(t, r.Subject)
			require.NotContains(t, r.Subject, "\n")
			require.Contains(t, r.HTML, "<html")
			require.NotContains(t, r.Text, "<no value>")
			require.NotContains(t, r.HTML, "<no value>")
		})
	}
}

func TestRenderDetails(t *testing.T) {
	t.Parallel()
	tpl, err := mailer.LoadTemplates("")
	require.NoError(t, err)
	d := sampleData()[tasks.TemplateOrderConfirmation]
	d["shop_name"] = "Shop"

	r, err := tpl.Render(tasks.TemplateOrderConfirmation, d)
	require.NoError(t, err)
	require.Equal(t, "Shop: order A-1001 confirmed", r.Subject)
	require.Contains(t, r.Text, "Total: 59.98 EUR")
	require.Contains(t, r.Text, "2 x Mug (MUG-1)  14.99 EUR")
	require.Contains(t, r.Text, "Teapot <large>", "the text part is not HTML-escaped")
	require.Contains(t, r.HTML, "Teapot &lt;large&gt;", "the HTML part escapes data")
}

func TestRenderFailsOnMissingData(t *testing.T) {
	t.Parallel()
	tpl, err := mailer.LoadTemplates("")
	require.NoError(t, err)

	_, err = tpl.Render(tasks.TemplateOrderFailed, map[string]any{"shop_name": "Shop", "order_id": "A-1"})
	require.ErrorIs(t, err, mailer.ErrTemplate)
	require.ErrorContains(t, err, "customer_name")

	_, err = tpl.Render("no-such-template", nil)
	require.ErrorIs(t, err, mailer.ErrTemplate)
}

func TestTemplatesOverriddenFileByFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, tasks.TemplateOrderFailed)
	require.NoError(t, os.MkdirAll(sub, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "subject.txt"), []byte("Leider: {{.order_id}}\n"), 0o600))

	tpl, err := mailer.LoadTemplates(dir)
	require.NoError(t, err)
	d := sampleData()[tasks.TemplateOrderFailed]
	d["shop_name"] = "Shop"
	r, err := tpl.Render(tasks.TemplateOrderFailed, d)
	require.NoError(t, err)
	require.Equal(t, "Leider: A-1002", r.Subject)
	require.Contains(t, r.Text, "payment declined", "the body still comes from the embedded template")
}

func TestBrokenOverrideFailsAtLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, tasks.TemplatePriceDrop)
	require.NoError(t, os.MkdirAll(sub, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "body.html"), []byte("{{if}}"), 0o600))

	_, err := mailer.LoadTemplates(dir)
	require.ErrorContains(t, err, tasks.TemplatePriceDrop)
}

func TestMoneyFormatting(t *testing.T) {
	t.Parallel()
	tpl, err := mailer.LoadTemplates("")
	require.NoError(t, err)
	for _, tc := range []struct {
		old, new any
		currency string
		want     string
	}{
		{5000, 3999, "EUR", "from 50.00 EUR to 39.99 EUR"},
		{5, 1, "EUR", "from 0.05 EUR to 0.01 EUR"},
		{1200, 990, "JPY", "from 1200 JPY to 990 JPY"},
		{12345, 1000, "KWD", "from 12.345 KWD to 1.000 KWD"},
		{"5000", float64(3999), "USD", "from 50.00 USD to 39.99 USD"},
	} {
		d := sampleData()[tasks.TemplatePriceDrop]
		d["shop_name"], d["old_price"], d["new_price"], d["currency"] = "Shop", tc.old, tc.new, tc.currency
		r, err := tpl.Render(tasks.TemplatePriceDrop, d)
		require.NoError(t, err)
		require.Contains(t, r.Text, tc.want)
	}

	d := sampleData()[tasks.TemplatePriceDrop]
	d["shop_name"], d["new_price"] = "Shop", 39.5
	_, err = tpl.Render(tasks.TemplatePriceDrop, d)
	require.ErrorIs(t, err, mailer.ErrTemplate, "a fractional minor-unit amount is refused")
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	for _, tc := range []struct {
		name string
		o    mailer.Options
		want string
	}{
		{"no from", mailer.Options{}, "mail.from"},
		{"bad transport", mailer.Options{From: "a@b.test", Transport: "pigeon"}, "mail.transport"},
		{"no host", mailer.Options{From: "a@b.test", Transport: "smtp"}, "mail.smtp.host"},
		{"bad tls", mailer.Options{From: "a@b.test", Transport: "smtp",
			SMTP: mailer.SMTPOptions{Host: "h", TLS: "sometimes"}}, "mail.smtp.tls"},
		{"plain in clear", mailer.Options{From: "a@b.test", Transport: "smtp",
			SMTP: mailer.SMTPOptions{Host: "h", TLS: "none", Auth: "plain", Username: "u"}}, "allow_insecure_auth"},
		{"auth without user", mailer.Options{From: "a@b.test", Transport: "smtp",
			SMTP: mailer.SMTPOptions{Host: "h", Auth: "login"}}, "mail.smtp.username"},
	} {
		_, err := mailer.New(tc.o, st, nil)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	o := mailer.Options{SMTP: mailer.SMTPOptions{Host: "h", Username: "u", Password: "hunter2"}}
	for _, s := range []string{
		o.SMTP.String(), o.SMTP.GoString(), o.Redacted().SMTP.Password, o.LogValue().String(),
		fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o),
	} {
		require.NotContains(t, s, "hunter2")
	}
}
