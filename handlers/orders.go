package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/tasks"
)

// busyRetry is how long an order task waits while another run holds the
// order.
const busyRetry = 5 * time.Second

// Orders runs the order family: orders:place and orders:cancel.
type Orders struct {
	d   Deps
	svc *orders.Service
}

// NewOrders returns the order family. When opts.Inventory.Now is nil it
// uses d.Now.
func NewOrders(d Deps, opts orders.Options) *Orders {
	if opts.Inventory.Now == nil {
		opts.Inventory.Now = d.now
	}
	h := &Orders{d: d}
	h.svc = orders.New(d.Store, opts, orders.Hooks{
		Mail: func(ctx context.Context, p tasks.MailSendPayload) error { return enqueueMail(ctx, d, p) },
		Stock: func(ctx context.Context, out inventory.Outcome) error {
			return stockFollowUps(ctx, d, h.svc.Inventory(), out)
		},
	})
	return h
}

// Service returns the order service (state, providers, inventory).
func (h *Orders) Service() *orders.Service { return h.svc }

// Register adds the order task types to mux.
func (h *Orders) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypeOrderPlace, h.HandlePlace)
	mux.HandleFunc(tasks.TypeOrderCancel, h.HandleCancel)
}

// HandlePlace runs orders:place. Refused and failed orders are results,
// not errors.
func (h *Orders) HandlePlace(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.OrderPlacePayload](t)
	if err != nil {
		return err
	}
	res, err := h.svc.Place(ctx, p)
	if err := orderError(err); err != nil {
		return err
	}
	return WriteResult(t, res)
}

// HandleCancel runs orders:cancel.
func (h *Orders) HandleCancel(ctx context.Context, t *asynq.Task) error {
	p, err := decode[tasks.OrderCancelPayload](t)
	if err != nil {
		return err
	}
	res, err := h.svc.Cancel(ctx, p)
	if err := orderError(err); err != nil {
		return err
	}
	return WriteResult(t, res)
}

func orderError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, orders.ErrBusy):
		return &Throttled{After: busyRetry, Reason: "order busy"}
	case errors.Is(err, orders.ErrInvalidOrder):
		return Permanent(err)
	}
	return err
}
