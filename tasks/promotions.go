package tasks

import (
	"math"
	"time"

	"github.com/hibiken/asynq"
)

// Promotion task types.
const (
	// TypePromotionUpsert creates or changes a promotion; idempotent.
	TypePromotionUpsert = "promotions:upsert"
	// TypePromotionCancel ends a promotion now; idempotent.
	TypePromotionCancel = "promotions:cancel"
)

// Discount is a percentage or a fixed amount per currency; exactly one is set.
type Discount struct {
	// Percent off, 0 < Percent <= 100, at most two decimals (12.5 = 12.5 %).
	Percent float64 `json:"percent,omitempty"`
	// Amounts off per currency, in minor units: {"EUR": 500} = 5.00 EUR off.
	Amounts map[string]int64 `json:"amounts,omitempty"`
}

// Target selects SKUs: a SKU is targeted when it matches any listed SKU,
// vendor, product type or tag.
type Target struct {
	SKUs         []string `json:"skus,omitempty"`
	Vendors      []string `json:"vendors,omitempty"`
	ProductTypes []string `json:"product_types,omitempty"`
	Tags         []string `json:"tags,omitempty"`
}

// Empty reports whether the target selects nothing.
func (t Target) Empty() bool {
	return len(t.SKUs)+len(t.Vendors)+len(t.ProductTypes)+len(t.Tags) == 0
}

// PromotionUpsertPayload creates or replaces a promotion.
type PromotionUpsertPayload struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Discount Discount `json:"discount"`
	Target   Target   `json:"target"`
	// StartsAt and EndsAt bound the window [StartsAt, EndsAt). Either an RFC
	// 3339 instant ("2025-06-01T00:00:00+02:00"), a local date-time
	// ("2025-06-01T00:00:00") or a date ("2025-06-30") read in TimeZone. A
	// date as EndsAt includes that whole day: the window ends at the next
	// day's midnight.
	StartsAt string `json:"starts_at"`
	EndsAt   string `json:"ends_at"`
	// TimeZone is the merchant's IANA zone. Default: UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Priority breaks ties between promotions; see the pricing rule.
	Priority int `json:"priority"`
	// FloorAmounts optionally bounds the effective price from below, per currency.
	FloorAmounts map[string]int64 `json:"floor_amounts,omitempty"`
	// Version orders edits of one promotion (e.g. its updated-at in ms);
	// an edit with a lower version than the stored one is ignored.
	Version int64 `json:"version,omitempty"`
}

// Validate checks the payload.
func (p *PromotionUpsertPayload) Validate() error {
	var c checker
	c.id("id", p.ID)
	if len(p.Name) > 500 {
		c.add("name", "is longer than 500 bytes")
	}
	d := p.Discount
	switch {
	case d.Percent != 0 && len(d.Amounts) > 0:
		c.add("discount", "set percent or amounts, not both")
	case d.Percent == 0 && len(d.Amounts) == 0:
		c.add("discount", "set percent or amounts")
	case d.Percent != 0:
		if d.Percent < 0 || d.Percent > 100 || math.IsNaN(d.Percent) {
			c.add("discount.percent", "must be in (0, 100], got %v", d.Percent)
		} else if math.Abs(d.Percent*100-math.Round(d.Percent*100)) > 1e-6 {
			c.add("discount.percent", "has more than two decimals: %v", d.Percent)
		}
	default:
		for cur, amt := range d.Amounts {
			c.currency("discount.amounts."+cur, cur)
			c.positive("discount.amounts."+cur, amt, MaxAmount)
		}
	}
	for cur, amt := range p.FloorAmounts {
		c.currency("floor_amounts."+cur, cur)
		c.nonNegative("floor_amounts."+cur, amt, MaxAmount)
	}
	if p.Target.Empty() {
		c.add("target", "selects nothing: give skus, vendors, product_types or tags")
	}
	c.timeZone("time_zone", p.TimeZone)
	start, errS := ParseWindowTime(p.StartsAt, p.TimeZone, false)
	if errS != nil {
		c.add("starts_at", "%v", errS)
	}
	end, errE := ParseWindowTime(p.EndsAt, p.TimeZone, true)
	if errE != nil {
		c.add("ends_at", "%v", errE)
	}
	if errS == nil && errE == nil && !end.After(start) {
		c.add("ends_at", "must be after starts_at")
	}
	return c.err()
}

// Window returns the promotion's window as UTC instants.
func (p *PromotionUpsertPayload) Window() (start, end time.Time, err error) {
	if start, err = ParseWindowTime(p.StartsAt, p.TimeZone, false); err != nil {
		return
	}
	end, err = ParseWindowTime(p.EndsAt, p.TimeZone, true)
	return
}

// ParseWindowTime reads a promotion bound in zone (IANA; "" = UTC). A date
// without a time is that day's midnight, or for an end bound the next day's.
func ParseWindowTime(v, zone string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, &FieldError{Field: "time", Reason: "is required"}
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return time.Time{}, err
		}
		loc = l
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return firstOccurrence(t).UTC(), nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
		if end {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		}
		return firstOccurrence(t).UTC(), nil
	}
	return time.Time{}, badTimeError(v)
}

// firstOccurrence resolves a local time that happens twice (the hour
// repeated when daylight saving time ends) to its first instant, so a
// window 02:00-04:00 on the night summer time ends lasts three real hours;
// Go's time.Date picks the second. A local time skipped when daylight saving
// time starts is read as Go reads it: 02:30 becomes 03:30 summer time.
func firstOccurrence(t time.Time) time.Time {
	_, off := t.Zone()
	_, before := t.Add(-12 * time.Hour).Zone()
	if before <= off {
		return t
	}
	alt := t.Add(-time.Duration(before-off) * time.Second)
	if alt.Format("2006-01-02T15:04:05") == t.Format("2006-01-02T15:04:05") {
		return alt
	}
	return t
}

type badTimeError string

func (e badTimeError) Error() string {
	return "\"" + string(e) + "\" is not RFC 3339, a local date-time (2006-01-02T15:04:05) or a date"
}

// NewPromotionUpsertTask validates p and returns a promotions:upsert task.
func NewPromotionUpsertTask(p PromotionUpsertPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePromotionUpsert, &p, opts)
}

// PromotionCancelPayload cancels a promotion.
type PromotionCancelPayload struct {
	ID string `json:"id"`
}

// Validate checks the payload.
func (p *PromotionCancelPayload) Validate() error {
	var c checker
	c.id("id", p.ID)
	return c.err()
}

// NewPromotionCancelTask validates p and returns a promotions:cancel task.
func NewPromotionCancelTask(p PromotionCancelPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePromotionCancel, &p, opts)
}

// PromotionResult is the result of upsert and cancel.
type PromotionResult struct {
	ID           string `json:"id"`
	Applied      bool   `json:"applied"`
	AffectedSKUs int    `json:"affected_skus"`
}

func promotionSpecs() []Spec {
	return append([]Spec{
		{
			Type: TypePromotionUpsert, Queue: QueueDefault, MaxRetry: 25, Timeout: 10 * time.Minute,
			Validate: validator[PromotionUpsertPayload](),
		},
		{
			Type: TypePromotionCancel, Queue: QueueDefault, MaxRetry: 25, Timeout: 10 * time.Minute,
			Validate: validator[PromotionCancelPayload](),
		},
	}, promotionInternalSpecs()...)
}

// Internal promotion task types, enqueued by shopq itself.
const (
	// TypePromotionTransition recomputes a promotion's SKUs at one of its
	// window bounds; scheduled with ProcessAt by promotions:upsert.
	TypePromotionTransition = "promotions:transition"
	// TypePromotionSweep repairs transitions (promotion bounds, sale
	// windows) that no transition task handled, e.g. while no worker ran;
	// run it periodically.
	TypePromotionSweep = "promotions:sweep"
)

// PromotionTransitionPayload names a promotion and the instant of the bound
// it handles.
type PromotionTransitionPayload struct {
	ID string `json:"id"`
	// AtMS is the bound's instant in Unix milliseconds. A task that starts
	// early (asynq keeps due times in whole seconds) waits for it.
	AtMS int64 `json:"at_ms"`
	// Bound is "start" or "end" (named in the events it causes).
	Bound string `json:"bound,omitempty"`
}

// Validate checks the payload.
func (p *PromotionTransitionPayload) Validate() error {
	var c checker
	c.id("id", p.ID)
	c.positive("at_ms", p.AtMS, 1<<62)
	return c.err()
}

// NewPromotionTransitionTask validates p and returns a promotions:transition
// task; callers add asynq.ProcessAt.
func NewPromotionTransitionTask(p PromotionTransitionPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePromotionTransition, &p, opts)
}

// PromotionSweepPayload asks for one sweep; it has no fields today.
type PromotionSweepPayload struct{}

// Validate checks the payload.
func (p *PromotionSweepPayload) Validate() error { return nil }

// NewPromotionSweepTask returns a promotions:sweep task.
func NewPromotionSweepTask(opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePromotionSweep, &PromotionSweepPayload{}, opts)
}

// PromotionSweepResult reports what one sweep repaired.
type PromotionSweepResult struct {
	// Promotions recomputed because one of their bounds fell in the sweep's span.
	Promotions int `json:"promotions"`
	// SKUs whose sale window started or ended in the span.
	SKUs int `json:"skus"`
	// Changed counts effective prices that changed (events published).
	Changed int `json:"changed"`
}

func promotionInternalSpecs() []Spec {
	return []Spec{
		{
			Type: TypePromotionTransition, Queue: QueueDefault, MaxRetry: 25, Timeout: 10 * time.Minute, Internal: true,
			Validate: validator[PromotionTransitionPayload](),
		},
		{
			Type: TypePromotionSweep, Queue: QueueDefault, MaxRetry: 3, Timeout: 30 * time.Minute, Internal: true,
			Validate: validator[PromotionSweepPayload](),
		},
	}
}
