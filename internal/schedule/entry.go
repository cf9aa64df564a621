package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/shopq/shopq/tasks"
)

// Entry is one periodic job of the configuration's `schedules` list.
type Entry struct {
	// Name is unique; it appears in logs, metrics, slot claims and task IDs.
	Name string `mapstructure:"name" yaml:"name"`
	// Cron is a five-field cron spec ("0 3 * * *") or a descriptor
	// ("@daily", "@every 10m").
	Cron string `mapstructure:"cron" yaml:"cron"`
	// TimeZone is the IANA zone the cron spec is read in. Default: UTC.
	TimeZone string `mapstructure:"time_zone" yaml:"time_zone"`
	// Task is a task type of the wire contract, e.g. "catalog:import".
	Task string `mapstructure:"task" yaml:"task"`
	// Payload is the task's JSON payload, checked by the type's validation.
	Payload map[string]any `mapstructure:"payload" yaml:"payload"`
	// Queue overrides the type's default queue. Default: the type's.
	Queue string `mapstructure:"queue" yaml:"queue"`
	// MaxRetry overrides the type's retry budget; 0 keeps the type's.
	MaxRetry int `mapstructure:"max_retry" yaml:"max_retry"`
	// Timeout overrides the type's per-attempt timeout; 0 keeps the type's.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// Slotter yields an entry's slots: Next returns the first slot after t.
type Slotter interface {
	Next(t time.Time) time.Time
}

var (
	parser    = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
)

// Parse reads an entry's cron spec in its time zone. "@every" specs are
// aligned to the Unix epoch so that every process computes the same slots.
func Parse(e Entry) (Slotter, error) {
	spec := strings.TrimSpace(e.Cron)
	if spec == "" {
		return nil, errors.New("cron: is empty")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("cron: give the zone in time_zone, not as a TZ= prefix")
	}
	zone := e.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time_zone: %w", err)
	}

	sched, err := parser.Parse("CRON_TZ=" + loc.String() + " " + spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		return epochAligned{every: every.Delay}, nil
	}
	return sched, nil
}

// epochAligned fires at the multiples of every since the Unix epoch.
type epochAligned struct {
	every time.Duration
}

// Next returns the first multiple of every after t.
func (e epochAligned) Next(t time.Time) time.Time {
	d := int64(e.every)
	n := t.UnixNano()
	slot := (n/d + 1) * d
	if n < 0 && n%d != 0 {
		slot -= d
	}
	return time.Unix(0, slot).In(t.Location())
}

// compiled is a checked entry, ready to fire.
type compiled struct {
	Entry
	slots Slotter
	task  *asynq.Task
	// fingerprint changes when anything that affects the entry's runs does.
	fingerprint string
}

// compile checks e against the wire contract and builds its task.
func compile(e Entry) (*compiled, error) {
	if !validName.MatchString(e.Name) {
		return nil, fmt.Errorf("name %q: want 1-100 letters, digits, '.', '_' or '-'", e.Name)
	}
	slots, err := Parse(e)
	if err != nil {
		return nil, err
	}

	payload, err := encodePayload(e.Payload)
	if err != nil {
		return nil, err
	}
	var opts []asynq.Option
	if e.Queue != "" {
		opts = append(opts, asynq.Queue(e.Queue))
	}
	if e.MaxRetry > 0 {
		opts = append(opts, asynq.MaxRetry(e.MaxRetry))
	}
	if e.Timeout > 0 {
		opts = append(opts, asynq.Timeout(e.Timeout))
	}
	if e.MaxRetry < 0 || e.Timeout < 0 {
		return nil, errors.New("max_retry and timeout must not be negative")
	}
	task, err := tasks.NewTaskFromJSON(e.Task, payload, opts...)
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}

	fp := fmt.Sprintf("%s|%s|%s|%s|%s|%d|%d", e.Cron, e.TimeZone, e.Task, payload, e.Queue, e.MaxRetry, e.Timeout)
	return &compiled{Entry: e, slots: slots, task: task, fingerprint: fp}, nil
}

// encodePayload turns a payload read from YAML into JSON. YAML decoders may
// yield map[any]any for nested objects, which encoding/json refuses.
func encodePayload(p map[string]any) ([]byte, error) {
	if p == nil {
		return []byte("{}"), nil
	}
	v, err := jsonable(p)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return data, nil
}

func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			c, err := jsonable(val)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("payload: key %v is not a string", k)
			}
			c, err := jsonable(val)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			c, err := jsonable(val)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// Check reports what is wrong with e, or nil when the scheduler can run it.
// The scheduler skips (and reports) entries that fail it.
func Check(e Entry) error {
	_, err := compile(e)
	return err
}
