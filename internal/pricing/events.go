package pricing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one change of a SKU's effective price, as published on the
// events stream (fields named as the JSON tags).
//
// Seq numbers the changes of one SKU. Workers publish concurrently, so two
// changes of one SKU may reach the stream out of order: a consumer applies
// an event only when its Seq is above the last one it applied for the SKU.
//
// Delivery is at least once: the change is stored with a pending mark that
// is cleared after the event is on the stream; a run that died in between
// leaves the mark, and the next materialisation of the SKU (the task's
// retry) publishes the event again with the same Seq.
type Event struct {
	SKU string `json:"sku"`
	// Old is the previously published effective price; "" for a SKU's first.
	Old string `json:"old"`
	New int64  `json:"new"`
	// Currency of New; OldCurrency is set when it differs.
	Currency    string `json:"currency"`
	OldCurrency string `json:"old_currency,omitempty"`
	Reason      string `json:"reason"`
	// Version is the SKU's applied base price version.
	Version   int64  `json:"version"`
	Source    string `json:"source"`
	Promotion string `json:"promotion,omitempty"`
	// At is the instant the price was computed for (Unix ms).
	At  int64 `json:"at"`
	Seq int64 `json:"seq"`

	mark string // the pending mark in the price hash, cleared once published
}

func newEvent(r *Record, q Quote, old, oldCur, reason string, now time.Time) Event {
	e := Event{
		SKU: r.SKU, Old: old, New: q.Amount, Currency: q.Currency, Reason: reason,
		Version: r.Version, Source: q.Source, Promotion: q.PromotionID(), At: now.UnixMilli(),
	}
	if oldCur != "" && oldCur != q.Currency {
		e.OldCurrency = oldCur
	}
	return e
}

func (e *Event) values() map[string]any {
	v := map[string]any{
		"sku": e.SKU, "old": e.Old, "new": e.New, "currency": e.Currency, "reason": e.Reason,
		"version": e.Version, "source": e.Source, "at": e.At, "seq": e.Seq,
	}
	if e.OldCurrency != "" {
		v["old_currency"] = e.OldCurrency
	}
	if e.Promotion != "" {
		v["promotion"] = e.Promotion
	}
	return v
}

// publish appends events to the stream, trimmed approximately to
// Options.EventsMaxLen so it never grows without bound.
func (p *Pricing) publish(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	pipe := p.st.RDB.Pipeline()
	for i := range events {
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: p.EventsKey(), MaxLen: p.opts.EventsMaxLen, Approx: true, Values: events[i].values(),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publish price events: %w", err)
	}
	err := p.execScripts(ctx, clearScript, func(pipe redis.Pipeliner) {
		for i := range events {
			clearScript.EvalSha(ctx, pipe, []string{p.priceKey(events[i].SKU)}, events[i].mark)
		}
	})
	if err != nil {
		return fmt.Errorf("publish price events: %w", err)
	}
	return nil
}

// ParseEvent reads an event back from a stream message.
func ParseEvent(m redis.XMessage) (Event, error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := Event{
		SKU: str("sku"), Old: str("old"), Currency: str("currency"), OldCurrency: str("old_currency"),
		Reason: str("reason"), Source: str("source"), Promotion: str("promotion"),
	}
	var err error
	for k, dst := range map[string]*int64{"new": &e.New, "version": &e.Version, "at": &e.At, "seq": &e.Seq} {
		if *dst, err = strconv.ParseInt(str(k), 10, 64); err != nil {
			return e, fmt.Errorf("event %s: field %s: %w", m.ID, k, err)
		}
	}
	return e, nil
}
