package config

import "time"

// Default values; Defaults applies them.
const (
	DefaultRedisURL          = "redis://127.0.0.1:6379/0"
	DefaultKeyPrefix         = "shopq:"
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultConcurrency       = 20
	DefaultDequeuers         = 2
	DefaultShutdownTimeout   = 25 * time.Second
	DefaultStopGracePeriod   = 30 * time.Second
	DefaultTaskCheckInterval = 10 * time.Millisecond
	DefaultDelayedInterval   = time.Second
)

// defaults lists every key with its default value. Every key here is also
// bound to its environment variable, so env-only configuration works for
// keys that appear in no file.
func defaults() map[string]any {
	return map[string]any{
		"redis.url":                          DefaultRedisURL,
		"redis.key_prefix":                   DefaultKeyPrefix,
		"http.addr":                          DefaultHTTPAddr,
		"worker.concurrency":                 DefaultConcurrency,
		"worker.dequeuers":                   DefaultDequeuers,
		"worker.queues":                      map[string]int{"critical": 6, "default": 3, "low": 1},
		"worker.strict_priority":             false,
		"worker.shutdown_timeout":            DefaultShutdownTimeout.String(),
		"worker.stop_grace_period":           DefaultStopGracePeriod.String(),
		"worker.task_check_interval":         DefaultTaskCheckInterval.String(),
		"worker.delayed_task_check_interval": DefaultDelayedInterval.String(),
		"worker.queue_concurrency":           map[string]int{"low": 8},
		"scheduler.enabled":                  false,
		"scheduler.reload_interval":          "10s",
		"scheduler.catch_up":                 "1m",
		"scheduler.maintenance":              true,
		"mail.transport":                     "file",
		"mail.from":                          "shop@example.test",
		"mail.outbox_dir":                    "outbox",
		"mail.templates_dir":                 "",
		"mail.operators":                     []string{},
		"mail.rate_per_second":               50.0,
		"mail.smtp.host":                     "127.0.0.1",
		"mail.smtp.port":                     0,
		"mail.smtp.username":                 "",
		"mail.smtp.password":                 "",
		"mail.smtp.tls":                      "mandatory",
		"mail.smtp.auth":                     "",
		"mail.smtp.allow_insecure_auth":      false,
		"mail.smtp.dial_timeout":             "10s",
		"mail.smtp.send_timeout":             "30s",
		"mail.smtp.pool_size":                2,
		"ui.enabled":                         true,
		"ui.username":                        "",
		"ui.password":                        "",
		"ui.read_only":                       false,
		"log.level":                          "info",
		"log.format":                         "json",
		"shop.currency":                      "EUR",
		"retention.task_results":             "24h",
		"retention.ledger":                   "720h",
		"retention.mail_effects":             "720h",
		"retention.runs":                     "168h",
		"retention.chunks":                   "24h",
		"retention.archive_max_size":         0,
		"retention.archive_max_age":          "0s",
		"catalog.chunk_size":                 500,
		"catalog.max_feed_bytes":             int64(2 << 30),
		"catalog.connect_timeout":            "10s",
		"catalog.read_timeout":               "60s",
		"catalog.max_deactivate_share":       0.2,
		"catalog.work_dir":                   "",
		"inventory.reservation_ttl":          "15m",
		"inventory.low_stock_threshold":      5,
		"orders.payment.latency":             "5ms",
		"orders.payment.failure_rate":        0.0,
		"orders.shipment.latency":            "5ms",
		"orders.shipment.failure_rate":       0.0,
		"schedules":                          []any{},
	}
}
