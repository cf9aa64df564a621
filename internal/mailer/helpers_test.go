package mailer_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t testing.TB) *store.Store {
	t.Helper()
	return store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
}

func newMailer(t testing.TB, o mailer.Options) *mailer.Mailer {
	t.Helper()
	if o.From == "" {
		o.From = "Shop <shop@example.test>"
	}
	m, err := mailer.New(o, newStore(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// plainSMTP returns options for a server without TLS or auth.
func plainSMTP(host string, port int) mailer.Options {
	return mailer.Options{
		Transport: mailer.TransportSMTP,
		SMTP: mailer.SMTPOptions{
			Host: host, Port: port, TLS: mailer.TLSNone, Auth: mailer.AuthNone,
			DialTimeout: 2 * time.Second, SendTimeout: 2 * time.Second, PoolSize: 1,
		},
	}
}

// send renders template name with data and sends it to to.
func send(ctx context.Context, m *mailer.Mailer, name, to, key string, data map[string]any) (string, error) {
	r, err := m.Render(name, data)
	if err != nil {
		return "", err
	}
	msg, id, err := m.Compose(to, r, key, time.Now())
	if err != nil {
		return "", err
	}
	return id, m.Send(ctx, msg)
}

// sampleData is valid data for every template.
func sampleData() map[string]map[string]any {
	return map[string]map[string]any{
		tasks.TemplateOrderConfirmation: {
			"customer_name": "Ada Lovelace", "order_id": "A-1001", "currency": "EUR", "total": 5998,
			"items": []any{
				map[string]any{"title": "Mug", "sku": "MUG-1", "quantity": 2, "unit_price": 1499},
				map[string]any{"title": "Teapot <large>", "sku": "POT-1", "quantity": 1, "unit_price": 3000},
			},
		},
		tasks.TemplateOrderFailed: {
			"customer_name": "Ada Lovelace", "order_id": "A-1002", "reason": "payment declined",
		},
		tasks.TemplateShipmentUpdate: {
			"customer_name": "Ada Lovelace", "order_id": "A-1003", "status": "shipped", "carrier": "DHL",
			"tracking_number": "JJD000390007", "tracking_url": "https://track.example.test/JJD000390007",
		},
		tasks.TemplateBackInStock: {
			"customer_name": "Ada Lovelace", "product_title": "Ocean Blue Shirt", "sku": "SHIRT-OB-M",
		},
		tasks.TemplatePriceDrop: {
			"customer_name": "Ada Lovelace", "product_title": "Ocean Blue Shirt", "sku": "SHIRT-OB-M",
			"old_price": 5000, "new_price": 3999, "currency": "USD",
		},
		tasks.TemplateLowStockAlert: {
			"sku": "SHIRT-OB-M", "product_title": "Ocean Blue Shirt", "available": 3, "threshold": 5,
		},
		tasks.TemplateCatalogReport: {
			"run_id": "run-42", "source": "apparel.csv", "rows_total": 120, "rows_imported": 118,
			"rows_rejected": 2, "errors": []any{"row 7: price: not a number", "row 9: sku: is required"},
		},
	}
}

// tlsFiles is a self-signed certificate for 127.0.0.1 and localhost.
type tlsFiles struct {
	CertFile, KeyFile string
	Server            *tls.Config
	Client            *tls.Config
}

func selfSigned(t testing.TB) tlsFiles {
	t.Helper()
	c, err := smtptest.SelfSigned()
	require.NoError(t, err)
	dir := t.TempDir()
	f := tlsFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		Server: c.Server, Client: c.Client}
	require.NoError(t, os.WriteFile(f.CertFile, c.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(f.KeyFile, c.KeyPEM, 0o600))
	return f
}
