package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/mail"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/tasks"
)

// EnvPrefix starts every environment variable: SHOPQ_REDIS_URL.
const EnvPrefix = "SHOPQ"

// DefaultPaths are searched, in order, when no file is named; none of them
// needs to exist.
var DefaultPaths = []string{"shopq.yaml", "/etc/shopq/shopq.yaml"}

// ErrNotFound is returned when a configuration file named explicitly does
// not exist.
var ErrNotFound = errors.New("configuration file not found")

// Load reads the configuration. A path given explicitly must exist; with
// path "" the DefaultPaths are tried and, when none exists, defaults and
// environment alone are used (Config.File is then "").
func Load(path string) (*Config, error) {
	v := viper.New()
	for key, val := range defaults() {
		v.SetDefault(key, val)
	}
	v.SetEnvPrefix(EnvPrefix)
	// An empty variable is a value: SHOPQ_HTTP_ADDR= turns the admin server off.
	v.AllowEmptyEnv(true)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	// Bind every key explicitly: Unmarshal only sees environment variables of
	// keys viper knows, and AutomaticEnv alone does not make nested keys known.
	for key := range defaults() {
		if err := v.BindEnv(key); err != nil {
			return nil, fmt.Errorf("bind %s: %w", key, err)
		}
	}

	file, err := findFile(path)
	if err != nil {
		return nil, err
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}

	var cfg Config
	// UnmarshalExact: a misspelt key in the file is an error, not a silent default.
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook())); err != nil {
		// The keys that did decode are still validated, so every problem is
		// reported at once, not one round per kind of mistake.
		decodeErr := cleanDecodeError(err)
		return nil, fmt.Errorf("config%s: %w", inFile(file),
			errors.Join(decodeErr, validationBesides(&cfg, decodeErr.Error())))
	}
	cfg.File = file
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config%s:\n%w", inFile(file), err)
	}
	return &cfg, nil
}

func inFile(file string) string {
	if file == "" {
		return " (defaults and environment)"
	}
	return " " + file
}

func findFile(path string) (string, error) {
	if path != "" {
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("%w: %s", ErrNotFound, path)
		case err != nil:
			return "", fmt.Errorf("config %s: %w", path, err)
		case st.IsDir():
			return "", fmt.Errorf("config %s: is a directory", path)
		}
		return path, nil
	}
	for _, p := range DefaultPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// cleanDecodeError turns mapstructure's error list into one line per key.
func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		// mapstructure writes "'worker.shutdown_timeout' duration ...".
		if key, rest, ok := strings.Cut(strings.TrimPrefix(l, "'"), "' "); ok && strings.HasPrefix(l, "'") {
			l = key + ": " + rest
		}
		lines = append(lines, "  "+strings.ReplaceAll(l, "'", ""))
	}
	return errors.New("\n" + strings.Join(lines, "\n"))
}

// validationBesides validates a partly decoded cfg and drops the problems
// of keys the decode error already names (their values are zero).
func validationBesides(cfg *Config, decodeMsg string) error {
	verr := cfg.Validate()
	joined, ok := verr.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	var rest []error
	for _, e := range joined.Unwrap() {
		key, _, _ := strings.Cut(strings.TrimSpace(e.Error()), ":")
		if !strings.Contains(decodeMsg, key) {
			rest = append(rest, e)
		}
	}
	return errors.Join(rest...)
}

var durationType = reflect.TypeOf(time.Duration(0))

// decodeHook parses durations strictly (a unit is required: "30" is an
// error, never 30 ns) and accepts "a=1,b=2" for maps of weights given by
// environment, and YAML for lists given by environment.
func decodeHook() mapstructure.DecodeHookFunc {
	return func(from, to reflect.Type, data any) (any, error) {
		switch {
		case to == durationType:
			return toDuration(data)
		case to.Kind() == reflect.Map && from.Kind() == reflect.String:
			return parseMap(data.(string), to)
		case to.Kind() == reflect.Slice && from.Kind() == reflect.String && to.Elem().Kind() == reflect.String:
			s := strings.TrimSpace(data.(string))
			if s == "" {
				return []string{}, nil
			}
			if strings.HasPrefix(s, "[") {
				var out []string
				if err := yaml.Unmarshal([]byte(s), &out); err != nil {
					return nil, fmt.Errorf("list %q: %w", s, err)
				}
				return out, nil
			}
			return strings.Split(s, ","), nil
		case to.Kind() == reflect.Slice && from.Kind() == reflect.String:
			var out []map[string]any
			if err := yaml.Unmarshal([]byte(data.(string)), &out); err != nil {
				return nil, fmt.Errorf("list given as YAML/JSON: %w", err)
			}
			return out, nil
		}
		return data, nil
	}
}

func toDuration(data any) (any, error) {
	switch d := data.(type) {
	case time.Duration:
		return d, nil
	case string:
		s := strings.TrimSpace(d)
		if s == "" {
			return time.Duration(0), nil
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
			return nil, fmt.Errorf("duration %q has no unit: write e.g. %ss or %sms", s, s, s)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("duration %q: use units ns, us, ms, s, m, h (no d)", s)
		}
		return v, nil
	case int, int64, float64, uint, int32, uint64:
		if reflect.ValueOf(d).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit: write e.g. \"%vs\"", d, d)
	}
	return data, nil
}

func parseMap(s string, to reflect.Type) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return map[string]any{}, nil
	}
	if strings.HasPrefix(s, "{") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("map %q: %w", s, err)
		}
		return m, nil
	}
	out := map[string]any{}
	for _, part := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("map %q: want name=value pairs separated by commas", s)
		}
		out[k] = val
	}
	_ = to
	return out, nil
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("  %s: %s", key, fmt.Sprintf(format, args...)))
	}

	if _, err := redisconn.Options(c.Redis.URL); err != nil {
		add("redis.url", "%v", err)
	}
	switch p := c.Redis.KeyPrefix; {
	case p == "":
		add("redis.key_prefix", "must not be empty")
	case strings.ContainsAny(p, "{}"):
		add("redis.key_prefix", "%q must not contain braces (they form Redis Cluster hash tags)", p)
	case strings.HasPrefix(p, "asynq:") || p == "asynq":
		add("redis.key_prefix", "%q is asynq's namespace", p)
	}

	w := c.Worker
	if w.Concurrency < 1 || w.Concurrency > 10000 {
		add("worker.concurrency", "must be 1-10000, got %d", w.Concurrency)
	}
	if w.Dequeuers < 1 || w.Dequeuers > 16 {
		add("worker.dequeuers", "must be 1-16, got %d", w.Dequeuers)
	}
	if len(w.Queues) == 0 {
		add("worker.queues", "names no queue")
	}
	for q, weight := range w.Queues {
		if weight < 1 {
			add("worker.queues."+q, "weight must be at least 1, got %d", weight)
		}
	}
	for q, n := range w.QueueConcurrency {
		if n < 1 {
			add("worker.queue_concurrency."+q, "must be at least 1, got %d", n)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be a positive duration, got %v", d)
		}
	}
	positive("worker.shutdown_timeout", w.ShutdownTimeout)
	positive("worker.stop_grace_period", w.StopGracePeriod)
	positive("worker.task_check_interval", w.TaskCheckInterval)
	positive("worker.delayed_task_check_interval", w.DelayedTaskCheckInterval)
	if w.ShutdownTimeout > 0 && w.StopGracePeriod > 0 && w.ShutdownTimeout >= w.StopGracePeriod {
		add("worker.shutdown_timeout", "%v is not shorter than worker.stop_grace_period %v: the process "+
			"would be killed before running tasks are handed back", w.ShutdownTimeout, w.StopGracePeriod)
	}
	positive("scheduler.reload_interval", c.Scheduler.ReloadInterval)

	c.validateMail(add)

	if (c.UI.Username == "") != (c.UI.Password == "") {
		add("ui.username", "set both ui.username and ui.password, or neither")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		add("log.format", "%q is not json or text", c.Log.Format)
	}
	if !tasks.ValidCurrency(c.Shop.Currency) {
		add("shop.currency", "%q is not an ISO 4217 currency code", c.Shop.Currency)
	}
	for key, d := range map[string]time.Duration{
		"retention.task_results": c.Retention.TaskResults, "retention.ledger": c.Retention.Ledger,
		"retention.mail_effects": c.Retention.MailEffects, "retention.runs": c.Retention.Runs,
		"retention.chunks": c.Retention.Chunks,
	} {
		if d < time.Second {
			add(key, "must be at least 1s, got %v", d)
		}
	}
	if c.Catalog.ChunkSize < 1 || c.Catalog.ChunkSize > 10000 {
		add("catalog.chunk_size", "must be 1-10000, got %d", c.Catalog.ChunkSize)
	}
	if c.Catalog.MaxFeedBytes < 1 {
		add("catalog.max_feed_bytes", "must be positive, got %d", c.Catalog.MaxFeedBytes)
	}
	positive("catalog.connect_timeout", c.Catalog.ConnectTimeout)
	positive("catalog.read_timeout", c.Catalog.ReadTimeout)
	if s := c.Catalog.MaxDeactivateShare; s < 0 || s > 1 || math.IsNaN(s) {
		add("catalog.max_deactivate_share", "must be within 0-1, got %v", s)
	}
	positive("inventory.reservation_ttl", c.Inventory.ReservationTTL)
	if c.Inventory.LowStockThreshold < 0 {
		add("inventory.low_stock_threshold", "must not be negative")
	}
	for key, s := range map[string]Simulation{"orders.payment": c.Orders.Payment, "orders.shipment": c.Orders.Shipment} {
		if s.Latency < 0 {
			add(key+".latency", "must not be negative")
		}
		if s.FailureRate < 0 || s.FailureRate > 1 || math.IsNaN(s.FailureRate) {
			add(key+".failure_rate", "must be within 0-1, got %v", s.FailureRate)
		}
	}
	// Schedules are checked one by one by the scheduler, so one broken
	// entry is reported without blocking the others.
	if c.Scheduler.CatchUp < 0 {
		add("scheduler.catch_up", "must not be negative")
	}
	if c.Retention.ArchiveMaxSize < 0 || c.Retention.ArchiveMaxSize > 10000 {
		add("retention.archive_max_size", "must be 0-10000 (asynq drops archived tasks past 10000), got %d",
			c.Retention.ArchiveMaxSize)
	}
	if c.Retention.ArchiveMaxAge < 0 {
		add("retention.archive_max_age", "must not be negative")
	}
	return errors.Join(errs...)
}

func (c *Config) validateMail(add func(key, format string, args ...any)) {
	m := c.Mail
	switch m.Transport {
	case "smtp":
		if m.SMTP.Host == "" {
			add("mail.smtp.host", "is required with mail.transport smtp")
		}
	case "file":
		if m.OutboxDir == "" {
			add("mail.outbox_dir", "is required with mail.transport file")
		}
	default:
		add("mail.transport", "%q is not smtp or file", m.Transport)
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		add("mail.from", "%q is not an address", m.From)
	}
	for i, op := range m.Operators {
		if _, err := mail.ParseAddress(op); err != nil {
			add(fmt.Sprintf("mail.operators[%d]", i), "%q is not an address", op)
		}
	}
	if m.RatePerSecond < 0 || math.IsNaN(m.RatePerSecond) {
		add("mail.rate_per_second", "must not be negative")
	}
	if m.SMTP.Port < 0 || m.SMTP.Port > 65535 {
		add("mail.smtp.port", "must be 1-65535 (0: by tls), got %d", m.SMTP.Port)
	}
	if !slices.Contains([]string{"mandatory", "opportunistic", "implicit", "none"}, m.SMTP.TLS) {
		add("mail.smtp.tls", "%q is not mandatory, opportunistic, implicit or none", m.SMTP.TLS)
	}
	if !slices.Contains([]string{"", "auto", "plain", "login", "cram-md5", "none"}, m.SMTP.Auth) {
		add("mail.smtp.auth", "%q is not auto, plain, login, cram-md5 or none", m.SMTP.Auth)
	}
	if m.SMTP.Password != "" && m.SMTP.Username == "" {
		add("mail.smtp.username", "is required when a password is set")
	}
	if m.SMTP.DialTimeout <= 0 {
		add("mail.smtp.dial_timeout", "must be a positive duration")
	}
	if m.SMTP.SendTimeout <= 0 {
		add("mail.smtp.send_timeout", "must be a positive duration")
	}
	if m.SMTP.PoolSize < 1 || m.SMTP.PoolSize > 64 {
		add("mail.smtp.pool_size", "must be 1-64, got %d", m.SMTP.PoolSize)
	}
}
