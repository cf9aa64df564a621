package tasks

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Order task types.
const (
	// TypeOrderPlace runs an order: validate, reserve all lines, authorise
	// payment and prepare shipment, commit, confirm by mail.
	TypeOrderPlace = "orders:place"
	// TypeOrderCancel releases an order's reservations or restocks its sale.
	TypeOrderCancel = "orders:cancel"
)

// Order statuses in OrderResult.
const (
	OrderAccepted  = "accepted"
	OrderRefused   = "refused"
	OrderFailed    = "failed"
	OrderCancelled = "cancelled"
)

// OrderLine is one line of an order. LineID is unique within the order; a SKU
// may appear on several lines.
type OrderLine struct {
	LineID     string `json:"line_id"`
	SKU        string `json:"sku"`
	Quantity   int64  `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
	Currency   string `json:"currency"`
	// Description is shown in mails; optional.
	Description string `json:"description,omitempty"`
}

// OrderPlacePayload is an order to run.
type OrderPlacePayload struct {
	OrderID string      `json:"order_id"`
	Email   string      `json:"email"`
	Lines   []OrderLine `json:"lines"`
	// Name of the customer for mails; optional.
	Name string `json:"name,omitempty"`
	// PlacedAt is when the customer ordered (RFC 3339); optional.
	PlacedAt string `json:"placed_at,omitempty"`
}

// MaxOrderLines bounds an order's size.
const MaxOrderLines = 1000

// Validate checks the payload.
func (p *OrderPlacePayload) Validate() error {
	var c checker
	c.id("order_id", p.OrderID)
	c.email("email", p.Email)
	switch {
	case len(p.Lines) == 0:
		c.add("lines", "an order needs at least one line")
	case len(p.Lines) > MaxOrderLines:
		c.add("lines", "has %d lines, above the limit of %d", len(p.Lines), MaxOrderLines)
	}
	seen := map[string]bool{}
	for i, l := range p.Lines {
		f := func(name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }
		c.id(f("line_id"), l.LineID)
		if seen[l.LineID] {
			c.add(f("line_id"), "%q appears twice", l.LineID)
		}
		seen[l.LineID] = true
		c.id(f("sku"), l.SKU)
		c.positive(f("quantity"), l.Quantity, MaxQuantity)
		c.nonNegative(f("unit_amount"), l.UnitAmount, MaxAmount)
		c.currency(f("currency"), l.Currency)
		if i > 0 && l.Currency != p.Lines[0].Currency {
			c.add(f("currency"), "%q differs from the order's %q", l.Currency, p.Lines[0].Currency)
		}
	}
	if p.PlacedAt != "" {
		if _, err := time.Parse(time.RFC3339, p.PlacedAt); err != nil {
			c.add("placed_at", "%q is not RFC 3339", p.PlacedAt)
		}
	}
	return c.err()
}

// NewOrderPlaceTask validates p and returns an orders:place task.
func NewOrderPlaceTask(p OrderPlacePayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeOrderPlace, &p, opts)
}

// OrderCancelPayload cancels an order.
type OrderCancelPayload struct {
	OrderID string `json:"order_id"`
	// Reason is shown to operators; optional.
	Reason string `json:"reason,omitempty"`
}

// Validate checks the payload.
func (p *OrderCancelPayload) Validate() error {
	var c checker
	c.id("order_id", p.OrderID)
	return c.err()
}

// NewOrderCancelTask validates p and returns an orders:cancel task.
func NewOrderCancelTask(p OrderCancelPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeOrderCancel, &p, opts)
}

// OrderResult is the outcome of placing or cancelling an order.
type OrderResult struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

func orderSpecs() []Spec {
	return []Spec{
		{
			Type: TypeOrderPlace, Queue: QueueCritical, MaxRetry: 25, Timeout: 2 * time.Minute,
			Validate: validator[OrderPlacePayload](),
		},
		{
			Type: TypeOrderCancel, Queue: QueueCritical, MaxRetry: 25, Timeout: 2 * time.Minute,
			Validate: validator[OrderCancelPayload](),
		},
	}
}
