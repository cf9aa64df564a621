package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
)

// Queue names used by the default configuration.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// DefaultQueues maps each default queue to its weight.
func DefaultQueues() map[string]int {
	return map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}
}

// MaxPayloadBytes is the largest payload a constructor accepts. Large data
// (feeds, reports) travels by reference, never inside a task: every byte of a
// payload is kept in Redis for the task's pending, retry and retention time.
const MaxPayloadBytes = 256 << 10

// Spec describes one task type: where it runs and how it is checked.
type Spec struct {
	// Type is the task type name, e.g. "inventory:reserve".
	Type string
	// Queue is the default queue.
	Queue string
	// MaxRetry is the default retry budget. It is never 0: a worker killed
	// mid-task makes asynq count the expired lease as a retry, and a task
	// without retries left would be archived by one crash.
	MaxRetry int
	// Timeout is the default per-attempt timeout.
	Timeout time.Duration
	// Internal marks types that shopq enqueues itself (chunks, transitions);
	// producers may still enqueue them, but rarely should.
	Internal bool
	// Validate decodes and checks a JSON payload, naming the field at fault.
	Validate func(payload []byte) error
}

// Options returns the spec's default options.
func (s Spec) Options() []asynq.Option {
	return []asynq.Option{asynq.Queue(s.Queue), asynq.MaxRetry(s.MaxRetry), asynq.Timeout(s.Timeout)}
}

var registry = map[string]Spec{}

func register(specs ...Spec) {
	for _, s := range specs {
		if _, dup := registry[s.Type]; dup {
			panic("tasks: duplicate spec " + s.Type)
		}
		registry[s.Type] = s
	}
}

// Lookup returns the spec of a task type.
func Lookup(typ string) (Spec, bool) {
	s, ok := registry[typ]
	return s, ok
}

// Specs returns every registered spec, sorted by type name.
func Specs() []Spec {
	out := make([]Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// ErrUnknownType is returned for a task type that is not in the contract.
var ErrUnknownType = errors.New("unknown task type")

// NewTaskFromJSON validates a raw JSON payload for typ and returns the task
// with the type's defaults; opts override them. This is how producers in
// other languages' formats (and `enqueue TYPE --json`) reach the contract.
func NewTaskFromJSON(typ string, payload []byte, opts ...asynq.Option) (*asynq.Task, error) {
	spec, ok := Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	if err := checkSize(typ, payload); err != nil {
		return nil, err
	}
	if err := spec.Validate(payload); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	return asynq.NewTaskWithHeaders(typ, compact.Bytes(), createdHeader(), append(spec.Options(), opts...)...), nil
}

// HeaderCreated carries a task's creation time in Unix microseconds; the
// worker derives queue-wait metrics from it. Tasks from other producers may
// lack it.
const HeaderCreated = "shopq-created-us"

func createdHeader() map[string]string {
	return map[string]string{HeaderCreated: strconv.FormatInt(time.Now().UnixMicro(), 10)}
}

// Validator is implemented by every payload.
type Validator interface {
	Validate() error
}

// newTask validates p, encodes it and applies the defaults of typ.
func newTask(typ string, p Validator, opts []asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", typ, err)
	}
	if err := checkSize(typ, data); err != nil {
		return nil, err
	}
	spec := registry[typ]
	return asynq.NewTaskWithHeaders(typ, data, createdHeader(), append(spec.Options(), opts...)...), nil
}

func checkSize(typ string, data []byte) error {
	if len(data) > MaxPayloadBytes {
		return fmt.Errorf("%s: payload is %d bytes, above the limit of %d: pass large data by reference",
			typ, len(data), MaxPayloadBytes)
	}
	return nil
}

// Decode parses a JSON payload into P and validates it. Errors name the field
// that is wrong; callers in handlers treat them as permanent.
func Decode[P any, PP interface {
	*P
	Validator
}](data []byte) (P, error) {
	var p P
	if err := decodeJSON(data, &p); err != nil {
		return p, err
	}
	if err := PP(&p).Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// validator returns a Spec.Validate func for payload type P.
func validator[P any, PP interface {
	*P
	Validator
}]() func([]byte) error {
	return func(data []byte) error {
		_, err := Decode[P, PP](data)
		return err
	}
}

func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &FieldError{Field: "payload", Reason: "is empty"}
	}
	// encoding/json would turn invalid bytes into U+FFFD, so that different
	// bad SKUs would collapse into one.
	if !utf8.Valid(data) {
		return &FieldError{Field: "payload", Reason: fmt.Sprintf("is not valid UTF-8 (first bad byte at offset %d)", firstInvalid(data))}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "payload"
			}
			return &FieldError{Field: field, Reason: fmt.Sprintf("must be %s, got JSON %s", jsonKind(te.Type.Kind().String()), te.Value)}
		}
		return &FieldError{Field: "payload", Reason: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return &FieldError{Field: "payload", Reason: "trailing data after the JSON object"}
	}
	return nil
}

func firstInvalid(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "an integer"
	case strings.HasPrefix(k, "float"):
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "a boolean"
	case k == "slice", k == "array":
		return "an array"
	case k == "map", k == "struct":
		return "an object"
	}
	return k
}
