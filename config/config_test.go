package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shopq.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaultsWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("")
	require.NoError(t, err)
	require.Empty(t, cfg.File)
	require.Equal(t, DefaultRedisURL, cfg.Redis.URL)
	require.Equal(t, DefaultHTTPAddr, cfg.HTTP.Addr)
	require.Equal(t, 25*time.Second, cfg.Worker.ShutdownTimeout)
	require.Equal(t, map[string]int{"critical": 6, "default": 3, "low": 1}, cfg.Worker.Queues)
}

func TestExplicitMissingFileIsAnError(t *testing.T) {
	_, err := Load("conf/worker-qa.yaml")
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "conf/worker-qa.yaml")
}

func TestInvalidYAMLNamesFileAndLine(t *testing.T) {
	body := strings.Repeat("# comment\n", 11) + "worker: concurrency: 3\n"
	p := writeFile(t, body)
	_, err := Load(p)
	require.Error(t, err)
	require.Contains(t, err.Error(), p)
	require.Contains(t, err.Error(), "line 12")
}

// Env-only nested keys must reach Unmarshal: viper ignores them unless bound.
func TestEnvOnlyNestedKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SHOPQ_REDIS_URL", "redis://:s3cret@127.0.0.1:6390/3")
	t.Setenv("SHOPQ_MAIL_SMTP_HOST", "smtp.example.test")
	t.Setenv("SHOPQ_MAIL_SMTP_PORT", "2525")
	t.Setenv("SHOPQ_MAIL_SMTP_PASSWORD", "hunter2")
	t.Setenv("SHOPQ_MAIL_SMTP_USERNAME", "shop")
	t.Setenv("SHOPQ_MAIL_SMTP_TLS", "implicit")
	t.Setenv("SHOPQ_MAIL_TRANSPORT", "smtp")
	t.Setenv("SHOPQ_WORKER_SHUTDOWN_TIMEOUT", "12s")
	t.Setenv("SHOPQ_WORKER_QUEUES", "critical=9,low=2")
	t.Setenv("SHOPQ_WORKER_STRICT_PRIORITY", "true")
	t.Setenv("SHOPQ_UI_USERNAME", "ops")
	t.Setenv("SHOPQ_UI_PASSWORD", "pw")
	t.Setenv("SHOPQ_UI_READ_ONLY", "true")
	t.Setenv("SHOPQ_MAIL_OPERATORS", "a@example.test,b@example.test")
	t.Setenv("SHOPQ_ORDERS_PAYMENT_FAILURE_RATE", "0.25")

	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, "redis://:s3cret@127.0.0.1:6390/3", cfg.Redis.URL)
	require.Equal(t, "smtp.example.test", cfg.Mail.SMTP.Host)
	require.Equal(t, 2525, cfg.Mail.SMTP.Port)
	require.Equal(t, "implicit", cfg.Mail.SMTP.TLS)
	require.Equal(t, "smtp", cfg.Mail.Transport)
	require.Equal(t, 12*time.Second, cfg.Worker.ShutdownTimeout)
	require.Equal(t, map[string]int{"critical": 9, "low": 2}, cfg.Worker.Queues)
	require.True(t, cfg.Worker.StrictPriority)
	require.True(t, cfg.UI.ReadOnly)
	require.Equal(t, []string{"a@example.test", "b@example.test"}, cfg.Mail.Operators)
	require.InDelta(t, 0.25, cfg.Orders.Payment.FailureRate, 1e-9)

	out, err := cfg.YAML()
	require.NoError(t, err)
	require.NotContains(t, out, "s3cret")
	require.NotContains(t, out, "hunter2")
	require.Contains(t, out, "shutdown_timeout: 12s")
}

// Every key in defaults() has an environment variable that reaches Config.
func TestEveryKeyIsBoundToEnv(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SHOPQ_RETENTION_CHUNKS", "2h")
	t.Setenv("SHOPQ_CATALOG_CHUNK_SIZE", "250")
	t.Setenv("SHOPQ_INVENTORY_RESERVATION_TTL", "3m")
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, cfg.Retention.Chunks)
	require.Equal(t, 250, cfg.Catalog.ChunkSize)
	require.Equal(t, 3*time.Minute, cfg.Inventory.ReservationTTL)
}

// B15 (d): bare numbers are never nanoseconds, and "d" is not a unit.
func TestDurationsNeedAUnit(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SHOPQ_MAIL_SMTP_SEND_TIMEOUT", "30")
	t.Setenv("SHOPQ_WORKER_SHUTDOWN_TIMEOUT", "25")
	t.Setenv("SHOPQ_INVENTORY_RESERVATION_TTL", "1d")
	t.Setenv("SHOPQ_RETENTION_TASK_RESULTS", "24h")
	_, err := Load("")
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "mail.smtp.send_timeout")
	require.Contains(t, msg, "worker.shutdown_timeout")
	require.Contains(t, msg, "inventory.reservation_ttl")
	require.NotContains(t, msg, "retention.task_results")
	require.NotContains(t, msg, "30ns")
}

func TestDurationWithoutUnitInFile(t *testing.T) {
	p := writeFile(t, "worker:\n  shutdown_timeout: 30\n")
	_, err := Load(p)
	require.Error(t, err)
	require.Contains(t, err.Error(), "worker.shutdown_timeout")
	require.Contains(t, err.Error(), "no unit")
}

func TestValidationReportsEveryProblem(t *testing.T) {
	p := writeFile(t, `
redis:
  url: "ftp://nope"
  key_prefix: "asynq:"
worker:
  concurrency: 0
  shutdown_timeout: 40s
  stop_grace_period: 35s
mail:
  transport: pigeon
  smtp:
    tls: sometimes
log:
  level: loud
`)
	_, err := Load(p)
	require.Error(t, err)
	for _, key := range []string{"redis.url", "redis.key_prefix", "worker.concurrency", "worker.shutdown_timeout",
		"mail.transport", "mail.smtp.tls", "log.level"} {
		require.Contains(t, err.Error(), key)
	}
}

func TestPrintedConfigHidesSecrets(t *testing.T) {
	p := writeFile(t, `
redis:
  url: "redis://user:topsecret@127.0.0.1:6379/0"
ui:
  username: ops
  password: alsosecret
`)
	cfg, err := Load(p)
	require.NoError(t, err)
	out, err := cfg.YAML()
	require.NoError(t, err)
	require.NotContains(t, out, "topsecret")
	require.NotContains(t, out, "alsosecret")
	require.Contains(t, out, "xxxxx")
}

func TestEmptyEnvTurnsHTTPOff(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SHOPQ_HTTP_ADDR", "")
	cfg, err := Load("")
	require.NoError(t, err)
	require.Empty(t, cfg.HTTP.Addr)
}

func TestMisspeltKeyIsAnError(t *testing.T) {
	p := writeFile(t, "worker:\n  concurency: 5\n")
	_, err := Load(p)
	require.Error(t, err)
	require.Contains(t, err.Error(), "concurency")
}

// A decode error (a duration without unit) and validation errors come in
// one report.
func TestDecodeAndValidationErrorsTogether(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SHOPQ_WORKER_SHUTDOWN_TIMEOUT", "30")
	t.Setenv("SHOPQ_WORKER_CONCURRENCY", "-1")
	t.Setenv("SHOPQ_LOG_LEVEL", "loud")
	_, err := Load("")
	require.Error(t, err)
	for _, key := range []string{"worker.shutdown_timeout", "worker.concurrency", "log.level"} {
		require.Contains(t, err.Error(), key)
	}
	require.NotContains(t, err.Error(), "must be a positive duration, got 0s",
		"the key that failed to decode is not reported twice")
}
