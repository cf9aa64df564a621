package tasks

import (
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
)

// Inventory task types. Every operation but set carries an operation id: the
// same id applied again returns the first outcome and changes nothing.
const (
	TypeInventorySet     = "inventory:set"
	TypeInventoryAdjust  = "inventory:adjust"
	TypeInventoryReserve = "inventory:reserve"
	TypeInventoryCommit  = "inventory:commit"
	TypeInventoryRelease = "inventory:release"
)

// Adjust reasons.
const (
	ReasonDelivery   = "delivery"
	ReasonDamage     = "damage"
	ReasonReturn     = "return"
	ReasonWriteOff   = "write_off"
	ReasonCorrection = "correction"
)

// AdjustReasons lists the accepted adjust reasons.
var AdjustReasons = []string{ReasonDelivery, ReasonDamage, ReasonReturn, ReasonWriteOff, ReasonCorrection}

// InventorySetPayload sets the absolute on-hand count from a stock take or a
// feed. Older versions than the applied one are dropped.
type InventorySetPayload struct {
	SKU     string `json:"sku"`
	OnHand  int64  `json:"on_hand"`
	Version int64  `json:"version"`
	// OperationID is optional for set: the version already makes it idempotent.
	OperationID string `json:"operation_id,omitempty"`
}

// Validate checks the payload.
func (p *InventorySetPayload) Validate() error {
	var c checker
	c.id("sku", p.SKU)
	c.nonNegative("on_hand", p.OnHand, MaxQuantity)
	c.positive("version", p.Version, 1<<62)
	if p.OperationID != "" {
		c.id("operation_id", p.OperationID)
	}
	return c.err()
}

// TypeInventorySetBatch sets many SKUs' counts in one task: catalog runs
// send one per feed chunk for the quantities their feed carries.
const TypeInventorySetBatch = "inventory:set-batch"

// InventorySetBatchPayload is a batch of independent sets.
type InventorySetBatchPayload struct {
	Items []InventorySetPayload `json:"items"`
}

// Validate checks the payload.
func (p *InventorySetBatchPayload) Validate() error {
	var c checker
	if len(p.Items) == 0 || len(p.Items) > MaxBatchItems {
		c.add("items", "must hold 1 to %d items, got %d", MaxBatchItems, len(p.Items))
	}
	for i := range p.Items {
		if err := p.Items[i].Validate(); err != nil {
			c.add(fmt.Sprintf("items[%d]", i), "%v", err)
		}
	}
	return c.err()
}

// NewInventorySetBatchTask validates p and returns an inventory:set-batch task.
func NewInventorySetBatchTask(p InventorySetBatchPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventorySetBatch, &p, opts)
}

// InventoryAdjustPayload changes on-hand stock by Delta.
type InventoryAdjustPayload struct {
	SKU         string `json:"sku"`
	Delta       int64  `json:"delta"`
	Reason      string `json:"reason"`
	OperationID string `json:"operation_id"`
}

// Validate checks the payload.
func (p *InventoryAdjustPayload) Validate() error {
	var c checker
	c.id("sku", p.SKU)
	switch {
	case p.Delta == 0:
		c.add("delta", "must not be zero")
	case p.Delta > MaxQuantity || p.Delta < -MaxQuantity:
		c.add("delta", "is %d, beyond ±%d", p.Delta, MaxQuantity)
	}
	if !slices.Contains(AdjustReasons, p.Reason) {
		c.add("reason", "%q is not one of %v", p.Reason, AdjustReasons)
	}
	c.id("operation_id", p.OperationID)
	return c.err()
}

// InventoryReservePayload holds Quantity units of a SKU for an operation
// (typically an order line) until it is committed, released or expires.
type InventoryReservePayload struct {
	SKU         string `json:"sku"`
	Quantity    int64  `json:"quantity"`
	OperationID string `json:"operation_id"`
}

// Validate checks the payload.
func (p *InventoryReservePayload) Validate() error {
	var c checker
	c.id("sku", p.SKU)
	c.positive("quantity", p.Quantity, MaxQuantity)
	c.id("operation_id", p.OperationID)
	return c.err()
}

// InventoryOperationPayload names a reservation to commit or release.
type InventoryOperationPayload struct {
	OperationID string `json:"operation_id"`
}

// Validate checks the payload.
func (p *InventoryOperationPayload) Validate() error {
	var c checker
	c.id("operation_id", p.OperationID)
	return c.err()
}

// NewInventorySetTask validates p and returns an inventory:set task.
func NewInventorySetTask(p InventorySetPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventorySet, &p, opts)
}

// NewInventoryAdjustTask validates p and returns an inventory:adjust task.
func NewInventoryAdjustTask(p InventoryAdjustPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryAdjust, &p, opts)
}

// NewInventoryReserveTask validates p and returns an inventory:reserve task.
func NewInventoryReserveTask(p InventoryReservePayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryReserve, &p, opts)
}

// NewInventoryCommitTask returns an inventory:commit task: the reservation
// becomes a sale.
func NewInventoryCommitTask(p InventoryOperationPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryCommit, &p, opts)
}

// NewInventoryReleaseTask returns an inventory:release task: the reservation
// is given back.
func NewInventoryReleaseTask(p InventoryOperationPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryRelease, &p, opts)
}

// StockLevel is a SKU's counts.
type StockLevel struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

// InventoryResult is the result of every inventory operation.
type InventoryResult struct {
	SKU         string `json:"sku,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	// Applied is true when the operation changed stock (set, adjust,
	// commit, release).
	Applied bool `json:"applied"`
	// Granted is true when a reservation holds its units.
	Granted bool `json:"granted"`
	// Duplicate is true when the operation id had been applied before; the
	// rest of the result is that first outcome.
	Duplicate bool `json:"duplicate"`
	// Stale is true for a set whose version was not newer.
	Stale     bool   `json:"stale,omitempty"`
	Reason    string `json:"reason,omitempty"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

func inventorySpecs() []Spec {
	spec := func(typ string, v func([]byte) error) Spec {
		return Spec{Type: typ, Queue: QueueCritical, MaxRetry: 25, Timeout: 30 * time.Second, Validate: v}
	}
	return []Spec{
		spec(TypeInventorySet, validator[InventorySetPayload]()),
		spec(TypeInventoryAdjust, validator[InventoryAdjustPayload]()),
		spec(TypeInventoryReserve, validator[InventoryReservePayload]()),
		spec(TypeInventoryCommit, validator[InventoryOperationPayload]()),
		spec(TypeInventoryRelease, validator[InventoryOperationPayload]()),
		spec(TypeInventorySetBatch, validator[InventorySetBatchPayload]()),
		{
			Type: TypeInventoryExpireSweep, Queue: QueueCritical, MaxRetry: 3, Timeout: 10 * time.Minute,
			Internal: true, Validate: validator[InventorySweepPayload](),
		},
		{
			Type: TypeInventoryReconcile, Queue: QueueLow, MaxRetry: 3, Timeout: 30 * time.Minute,
			Internal: true, Validate: validator[InventoryReconcilePayload](),
		},
	}
}

// InventoryBatchResult is the result of inventory:set-batch: one result per
// item, in the order of the payload.
type InventoryBatchResult struct {
	Results []InventoryResult `json:"results"`
}

// Internal inventory task types, enqueued by the scheduler.
const (
	// TypeInventoryExpireSweep releases reservations past their expiry.
	TypeInventoryExpireSweep = "inventory:expire-sweep"
	// TypeInventoryReconcile checks every SKU's counts against its ledger.
	TypeInventoryReconcile = "inventory:reconcile"
)

// InventorySweepPayload asks for one expiry sweep. It is empty; the sweep
// uses the worker's clock.
type InventorySweepPayload struct{}

// Validate checks the payload.
func (p *InventorySweepPayload) Validate() error { return nil }

// NewInventoryExpireSweepTask returns an inventory:expire-sweep task.
func NewInventoryExpireSweepTask(opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryExpireSweep, &InventorySweepPayload{}, opts)
}

// InventorySweepResult is the outcome of an expiry sweep.
type InventorySweepResult struct {
	// Checked counts the SKUs looked at; Expired the reservations released.
	Checked int `json:"checked"`
	Expired int `json:"expired"`
}

// InventoryReconcilePayload asks for a reconciliation of one SKU, or of
// every SKU when SKU is empty.
type InventoryReconcilePayload struct {
	SKU string `json:"sku,omitempty"`
}

// Validate checks the payload.
func (p *InventoryReconcilePayload) Validate() error {
	var c checker
	if p.SKU != "" {
		c.id("sku", p.SKU)
	}
	return c.err()
}

// NewInventoryReconcileTask validates p and returns an inventory:reconcile task.
func NewInventoryReconcileTask(p InventoryReconcilePayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeInventoryReconcile, &p, opts)
}

// InventoryReconcileResult is the outcome of a reconciliation.
type InventoryReconcileResult struct {
	Checked int `json:"checked"`
	// Drifted lists the SKUs whose counts differ from their ledger.
	Drifted []string `json:"drifted,omitempty"`
}
