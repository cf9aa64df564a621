package orders

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDeclined marks a business refusal by a payment or shipping provider:
// the order fails, it is not retried.
var ErrDeclined = errors.New("declined")

// PaymentRequest asks for an authorisation. Key is the idempotency key: the
// same key always answers with the first outcome.
type PaymentRequest struct {
	Key      string `json:"key"`
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Authorization is an authorised payment.
type Authorization struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
}

// Payments authorises and voids payments.
type Payments interface {
	// Authorize returns an error wrapping ErrDeclined for a refusal; any
	// other error is transient.
	Authorize(ctx context.Context, req PaymentRequest) (Authorization, error)
	// Void cancels an authorisation; voiding twice is fine.
	Void(ctx context.Context, auth Authorization) error
}

// ShipmentRequest asks for a shipment to be prepared. Key is the
// idempotency key.
type ShipmentRequest struct {
	Key     string `json:"key"`
	OrderID string `json:"order_id"`
	Items   int64  `json:"items"`
}

// Shipment is a prepared shipment.
type Shipment struct {
	ID string `json:"id"`
}

// Shipments prepares and cancels shipments.
type Shipments interface {
	// Prepare returns an error wrapping ErrDeclined for a refusal; any
	// other error is transient.
	Prepare(ctx context.Context, req ShipmentRequest) (Shipment, error)
	// Cancel cancels a prepared shipment; cancelling twice is fine.
	Cancel(ctx context.Context, s Shipment) error
}

// Simulation configures the simulated providers.
type Simulation struct {
	// Latency of every call. Default: 0.
	Latency time.Duration
	// PaymentFailureRate and ShipmentFailureRate are the share of orders
	// (0 to 1) declined. Which orders fail is decided by a hash of the
	// seed, the step and the order id, so a run is reproducible.
	PaymentFailureRate  float64
	ShipmentFailureRate float64
	// Seed varies which orders fail.
	Seed int64
}

// fails decides deterministically whether step of order fails.
func (s Simulation) fails(step, orderID string, rate float64) bool {
	if rate <= 0 {
		return false
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d|%s|%s", s.Seed, step, orderID)
	return float64(h.Sum64()%1_000_000)/1_000_000 < rate
}

func (s Simulation) wait(ctx context.Context) error {
	if s.Latency <= 0 {
		return nil
	}
	t := time.NewTimer(s.Latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return nil
}

// SimulatedPayments is an in-process payment provider: idempotent by key,
// declining orders as Simulation says. Calls and Effects count requests
// and distinct authorisations or voids made, for tests and demos.
type SimulatedPayments struct {
	Sim     Simulation
	Calls   atomic.Int64
	Effects atomic.Int64

	mu    sync.Mutex
	seen  map[string]Authorization
	voids map[string]bool
}

// Authorize implements Payments.
func (p *SimulatedPayments) Authorize(ctx context.Context, req PaymentRequest) (Authorization, error) {
	p.Calls.Add(1)
	if err := p.Sim.wait(ctx); err != nil {
		return Authorization{}, err
	}
	if p.Sim.fails("payment", req.OrderID, p.Sim.PaymentFailureRate) {
		return Authorization{}, fmt.Errorf("payment for %s: card %w", req.OrderID, ErrDeclined)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.seen[req.Key]; ok {
		return a, nil
	}
	if p.seen == nil {
		p.seen = map[string]Authorization{}
	}
	a := Authorization{ID: "auth-" + req.Key, Amount: req.Amount}
	p.seen[req.Key] = a
	p.Effects.Add(1)
	return a, nil
}

// Void implements Payments.
func (p *SimulatedPayments) Void(ctx context.Context, a Authorization) error {
	p.Calls.Add(1)
	if err := p.Sim.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.voids == nil {
		p.voids = map[string]bool{}
	}
	if !p.voids[a.ID] {
		p.voids[a.ID] = true
		p.Effects.Add(1)
	}
	return nil
}

// SimulatedShipments is an in-process shipping provider, like
// SimulatedPayments.
type SimulatedShipments struct {
	Sim     Simulation
	Calls   atomic.Int64
	Effects atomic.Int64

	mu      sync.Mutex
	seen    map[string]Shipment
	cancels map[string]bool
}

// Prepare implements Shipments.
func (s *SimulatedShipments) Prepare(ctx context.Context, req ShipmentRequest) (Shipment, error) {
	s.Calls.Add(1)
	if err := s.Sim.wait(ctx); err != nil {
		return Shipment{}, err
	}
	if s.Sim.fails("shipment", req.OrderID, s.Sim.ShipmentFailureRate) {
		return Shipment{}, fmt.Errorf("shipment for %s: address %w", req.OrderID, ErrDeclined)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.seen[req.Key]; ok {
		return sh, nil
	}
	if s.seen == nil {
		s.seen = map[string]Shipment{}
	}
	sh := Shipment{ID: "ship-" + req.Key}
	s.seen[req.Key] = sh
	s.Effects.Add(1)
	return sh, nil
}

// Cancel implements Shipments.
func (s *SimulatedShipments) Cancel(ctx context.Context, sh Shipment) error {
	s.Calls.Add(1)
	if err := s.Sim.wait(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancels == nil {
		s.cancels = map[string]bool{}
	}
	if !s.cancels[sh.ID] {
		s.cancels[sh.ID] = true
		s.Effects.Add(1)
	}
	return nil
}
