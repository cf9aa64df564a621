// Package config loads shopq's configuration: one YAML file, every key
// overridable by an environment variable (SHOPQ_ + the key in upper case,
// "." and nesting as "_": redis.url -> SHOPQ_REDIS_URL). It is the only
// package that imports viper.
package config

import (
	"time"
)

// Config is the whole configuration. Field comments give the unit and the
// default; Defaults holds the values.
type Config struct {
	Redis     Redis     `mapstructure:"redis" yaml:"redis"`
	HTTP      HTTP      `mapstructure:"http" yaml:"http"`
	Worker    Worker    `mapstructure:"worker" yaml:"worker"`
	Scheduler Scheduler `mapstructure:"scheduler" yaml:"scheduler"`
	Mail      Mail      `mapstructure:"mail" yaml:"mail"`
	UI        UI        `mapstructure:"ui" yaml:"ui"`
	Log       Log       `mapstructure:"log" yaml:"log"`
	Shop      Shop      `mapstructure:"shop" yaml:"shop"`
	Retention Retention `mapstructure:"retention" yaml:"retention"`
	Catalog   Catalog   `mapstructure:"catalog" yaml:"catalog"`
	Inventory Inventory `mapstructure:"inventory" yaml:"inventory"`
	Orders    Orders    `mapstructure:"orders" yaml:"orders"`
	// Schedules are the periodic jobs; see Schedule. Edits to the file are
	// picked up without a restart.
	Schedules []Schedule `mapstructure:"schedules" yaml:"schedules"`

	// File is the configuration file that was read; "" when none was.
	File string `mapstructure:"-" yaml:"-"`
}

// Redis is the connection shared by the queues and the data store.
type Redis struct {
	// URL: redis://, rediss://, redis-sentinel:// or redis-cluster:// (see
	// README). Default: redis://127.0.0.1:6379/0.
	URL string `mapstructure:"url" yaml:"url"`
	// KeyPrefix starts every data key; never "asynq:". Default: shopq:.
	KeyPrefix string `mapstructure:"key_prefix" yaml:"key_prefix"`
}

// HTTP is the worker's admin server.
type HTTP struct {
	// Addr serves /healthz, /readyz, /metrics, /api/v1 and /ui/.
	// Default: 127.0.0.1:8080. "" turns the server off.
	Addr string `mapstructure:"addr" yaml:"addr"`
}

// Worker configures task processing.
type Worker struct {
	// Concurrency is the number of tasks run at once per dequeuer. Default: 20.
	Concurrency int `mapstructure:"concurrency" yaml:"concurrency"`
	// Dequeuers is the number of asynq servers in one process; asynq fetches
	// one task per Redis call, so two fetch nearly twice as fast. Default: 2.
	Dequeuers int `mapstructure:"dequeuers" yaml:"dequeuers"`
	// Queues maps queue name to weight. Default: critical 6, default 3, low 1.
	Queues map[string]int `mapstructure:"queues" yaml:"queues"`
	// StrictPriority drains higher queues first. Note: lower queues starve
	// while higher ones have work. Default: false.
	StrictPriority bool `mapstructure:"strict_priority" yaml:"strict_priority"`
	// ShutdownTimeout lets running tasks finish after SIGTERM; unfinished
	// ones go back to pending. Default: 25s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" yaml:"shutdown_timeout"`
	// StopGracePeriod is how long the orchestrator waits after SIGTERM before
	// SIGKILL (Kubernetes terminationGracePeriodSeconds, compose
	// stop_grace_period); the worker refuses a ShutdownTimeout that is not
	// shorter. Default: 30s.
	StopGracePeriod time.Duration `mapstructure:"stop_grace_period" yaml:"stop_grace_period"`
	// TaskCheckInterval is asynq's poll interval for empty queues: pickup
	// latency against idle Redis load. Default: 10ms.
	TaskCheckInterval time.Duration `mapstructure:"task_check_interval" yaml:"task_check_interval"`
	// DelayedTaskCheckInterval moves due scheduled and retry tasks to
	// pending. Default: 1s.
	DelayedTaskCheckInterval time.Duration `mapstructure:"delayed_task_check_interval" yaml:"delayed_task_check_interval"`
	// QueueConcurrency caps how many tasks of a queue run at once in this
	// process, so long tasks of one queue never hold every slot while
	// urgent work waits; a task over its cap is put back for a second
	// without using a retry. Default: low 8.
	QueueConcurrency map[string]int `mapstructure:"queue_concurrency" yaml:"queue_concurrency"`
}

// Scheduler configures the periodic job scheduler.
type Scheduler struct {
	// Enabled runs the scheduler inside the worker. Default: false.
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// ReloadInterval re-reads the schedules from the file. Default: 10s.
	ReloadInterval time.Duration `mapstructure:"reload_interval" yaml:"reload_interval"`
	// CatchUp is how late a slot may still run (after a restart, say);
	// older missed slots are skipped. Default: 1m.
	CatchUp time.Duration `mapstructure:"catch_up" yaml:"catch_up"`
	// Maintenance adds shopq's own periodic jobs (reservation expiry every
	// minute, promotion sweep every minute, stock reconciliation hourly)
	// unless an entry of the same name is configured. Default: true.
	Maintenance bool `mapstructure:"maintenance" yaml:"maintenance"`
}

// Schedule is one periodic job.
type Schedule struct {
	Name     string         `mapstructure:"name" yaml:"name"`
	Cron     string         `mapstructure:"cron" yaml:"cron"`
	TimeZone string         `mapstructure:"time_zone" yaml:"time_zone"`
	Task     string         `mapstructure:"task" yaml:"task"`
	Payload  map[string]any `mapstructure:"payload" yaml:"payload"`
	Queue    string         `mapstructure:"queue" yaml:"queue"`
	MaxRetry int            `mapstructure:"max_retry" yaml:"max_retry"`
	Timeout  time.Duration  `mapstructure:"timeout" yaml:"timeout"`
}

// Mail configures outgoing mail.
type Mail struct {
	// Transport is smtp or file. Default: file.
	Transport string `mapstructure:"transport" yaml:"transport"`
	// From is the sender address. Default: shop@example.test.
	From string `mapstructure:"from" yaml:"from"`
	// OutboxDir receives .eml files with transport file. Default: outbox.
	OutboxDir string `mapstructure:"outbox_dir" yaml:"outbox_dir"`
	// TemplatesDir overrides embedded templates by file name. Default: "".
	TemplatesDir string `mapstructure:"templates_dir" yaml:"templates_dir"`
	// Operators receive low-stock alerts and import reports. Default: none.
	Operators []string `mapstructure:"operators" yaml:"operators"`
	// RatePerSecond caps mails per second across all workers; 0 = no cap.
	// Default: 50.
	RatePerSecond float64 `mapstructure:"rate_per_second" yaml:"rate_per_second"`
	SMTP          SMTP    `mapstructure:"smtp" yaml:"smtp"`
}

// SMTP is the mail server.
type SMTP struct {
	Host string `mapstructure:"host" yaml:"host"`
	// Port; 0 picks by tls: 587, 465 with implicit, 25 with none. Default: 0.
	Port     int    `mapstructure:"port" yaml:"port"`
	Username string `mapstructure:"username" yaml:"username"`
	// Password is a secret: give it by environment (SHOPQ_MAIL_SMTP_PASSWORD).
	Password string `mapstructure:"password" yaml:"password"`
	// TLS: mandatory (STARTTLS required), opportunistic, implicit, none.
	// Default: mandatory.
	TLS string `mapstructure:"tls" yaml:"tls"`
	// Auth: auto, plain, login, cram-md5, none; "" means auto when a
	// username is set, none otherwise. Default: "".
	Auth string `mapstructure:"auth" yaml:"auth"`
	// AllowInsecureAuth permits credentials over an unencrypted connection.
	// Default: false.
	AllowInsecureAuth bool `mapstructure:"allow_insecure_auth" yaml:"allow_insecure_auth"`
	// DialTimeout bounds connecting and the greeting. Default: 10s.
	DialTimeout time.Duration `mapstructure:"dial_timeout" yaml:"dial_timeout"`
	// SendTimeout bounds one mail's SMTP exchange. Default: 30s.
	SendTimeout time.Duration `mapstructure:"send_timeout" yaml:"send_timeout"`
	// PoolSize is the number of reused connections per worker. Default: 2.
	PoolSize int `mapstructure:"pool_size" yaml:"pool_size"`
}

// UI configures the asynqmon web UI at /ui/.
type UI struct {
	// Enabled mounts the UI. Default: true.
	Enabled  bool   `mapstructure:"enabled" yaml:"enabled"`
	Username string `mapstructure:"username" yaml:"username"`
	// Password is a secret: give it by environment (SHOPQ_UI_PASSWORD).
	Password string `mapstructure:"password" yaml:"password"`
	// ReadOnly turns off every action in the UI. Default: false.
	ReadOnly bool `mapstructure:"read_only" yaml:"read_only"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info, warn, error. Default: info.
	Level string `mapstructure:"level" yaml:"level"`
	// Format: json or text. Default: json.
	Format string `mapstructure:"format" yaml:"format"`
}

// Shop holds shop-wide settings.
type Shop struct {
	// Currency for feeds whose prices carry none. Default: EUR.
	Currency string `mapstructure:"currency" yaml:"currency"`
}

// Retention sets the lifetime of every record kept for idempotency or
// inspection, so Redis memory does not grow without bound.
type Retention struct {
	// TaskResults keeps completed tasks and their results (for --wait and
	// the UI). Default: 24h.
	TaskResults time.Duration `mapstructure:"task_results" yaml:"task_results"`
	// Ledger keeps inventory operation records. Default: 720h (30 days).
	Ledger time.Duration `mapstructure:"ledger" yaml:"ledger"`
	// MailEffects keeps sent-mail records per effect key. Default: 720h.
	MailEffects time.Duration `mapstructure:"mail_effects" yaml:"mail_effects"`
	// Runs keeps catalog import reports. Default: 168h (7 days).
	Runs time.Duration `mapstructure:"runs" yaml:"runs"`
	// Chunks keeps feed chunks waiting for their tasks. Default: 24h.
	Chunks time.Duration `mapstructure:"chunks" yaml:"chunks"`
	// ArchiveMaxSize trims each queue's archive to this many tasks, oldest
	// first; 0 leaves asynq's own cap (10000, trimmed silently). Default: 0.
	ArchiveMaxSize int `mapstructure:"archive_max_size" yaml:"archive_max_size"`
	// ArchiveMaxAge deletes archived tasks older than this; 0 leaves
	// asynq's own 90 days. Default: 0s.
	ArchiveMaxAge time.Duration `mapstructure:"archive_max_age" yaml:"archive_max_age"`
}

// Catalog configures feed imports.
type Catalog struct {
	// ChunkSize is the number of rows per chunk task. Default: 500.
	ChunkSize int `mapstructure:"chunk_size" yaml:"chunk_size"`
	// MaxFeedBytes caps a feed's size (after decompression). Default: 2147483648.
	MaxFeedBytes int64 `mapstructure:"max_feed_bytes" yaml:"max_feed_bytes"`
	// ConnectTimeout bounds connecting to a feed URL. Default: 10s.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout" yaml:"connect_timeout"`
	// ReadTimeout bounds reading a feed with no progress. Default: 60s.
	ReadTimeout time.Duration `mapstructure:"read_timeout" yaml:"read_timeout"`
	// MaxDeactivateShare refuses a full refresh that would deactivate more
	// than this share of the supplier's catalog. Default: 0.2.
	MaxDeactivateShare float64 `mapstructure:"max_deactivate_share" yaml:"max_deactivate_share"`
	// WorkDir holds downloaded feeds while they are split. Default: OS temp.
	WorkDir string `mapstructure:"work_dir" yaml:"work_dir"`
}

// Inventory configures stock keeping.
type Inventory struct {
	// ReservationTTL releases reservations not committed in time. Default: 15m.
	ReservationTTL time.Duration `mapstructure:"reservation_ttl" yaml:"reservation_ttl"`
	// LowStockThreshold sends an operator alert when available falls below
	// it; 0 turns alerts off. Default: 5.
	LowStockThreshold int64 `mapstructure:"low_stock_threshold" yaml:"low_stock_threshold"`
}

// Orders configures the order pipeline's simulated partners.
type Orders struct {
	Payment  Simulation `mapstructure:"payment" yaml:"payment"`
	Shipment Simulation `mapstructure:"shipment" yaml:"shipment"`
}

// Simulation configures a simulated external service.
type Simulation struct {
	// Latency of each call. Default: 5ms.
	Latency time.Duration `mapstructure:"latency" yaml:"latency"`
	// FailureRate in [0, 1]: the share of orders the service declines,
	// chosen deterministically by order id. Default: 0.
	FailureRate float64 `mapstructure:"failure_rate" yaml:"failure_rate"`
}
