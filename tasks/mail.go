package tasks

import (
	"slices"
	"time"

	"github.com/hibiken/asynq"
)

// TypeMailSend renders a template and sends it once per effect key.
const TypeMailSend = "mail:send"

// Mail templates.
const (
	TemplateOrderConfirmation = "order-confirmation"
	TemplateOrderFailed       = "order-failed"
	TemplateShipmentUpdate    = "shipment-update"
	TemplateBackInStock       = "back-in-stock"
	TemplatePriceDrop         = "price-drop"
	TemplateLowStockAlert     = "low-stock-alert"
	TemplateCatalogReport     = "catalog-import-report"
)

// MailTemplates lists the templates every build carries.
var MailTemplates = []string{
	TemplateOrderConfirmation, TemplateOrderFailed, TemplateShipmentUpdate, TemplateBackInStock,
	TemplatePriceDrop, TemplateLowStockAlert, TemplateCatalogReport,
}

// MailSendPayload asks for one mail.
type MailSendPayload struct {
	Template string `json:"template"`
	// To is one address, optionally with a display name: "Zoë <z@example.test>".
	To string `json:"to"`
	// Data is passed to the template.
	Data map[string]any `json:"data,omitempty"`
	// EffectKey identifies the effect this mail has, e.g.
	// "order-confirmation:ORDER_ID": one mail per key, ever (within the
	// configured record lifetime).
	EffectKey string `json:"effect_key"`
}

// Validate checks the payload.
func (p *MailSendPayload) Validate() error {
	var c checker
	if !slices.Contains(MailTemplates, p.Template) {
		c.add("template", "%q is not one of %v", p.Template, MailTemplates)
	}
	c.email("to", p.To)
	c.id("effect_key", p.EffectKey)
	return c.err()
}

// NewMailSendTask validates p and returns a mail:send task.
func NewMailSendTask(p MailSendPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeMailSend, &p, opts)
}

// MailResult is the outcome of mail:send.
type MailResult struct {
	Sent bool `json:"sent"`
	// Duplicate is true when the effect key had been sent before.
	Duplicate bool   `json:"duplicate"`
	MessageID string `json:"message_id"`
}

func mailSpecs() []Spec {
	return []Spec{{
		Type: TypeMailSend, Queue: QueueDefault, MaxRetry: 12, Timeout: time.Minute,
		Validate: validator[MailSendPayload](),
	}}
}
