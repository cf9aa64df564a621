package schedule

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopq/shopq/internal/metrics"
)

// Reasons of shopq_schedule_errors_total.
const (
	reasonLoad    = "load"
	reasonInvalid = "invalid"
	reasonClaim   = "claim"
	reasonEnqueue = "enqueue"
)

var (
	scheduleEnqueued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_schedule_enqueued_total",
		Help: "Scheduled tasks this process enqueued, by schedule; summed over replicas, one per slot.",
	}, []string{"schedule"})

	scheduleErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_schedule_errors_total",
		Help: "Scheduler problems, by schedule and reason (load, invalid, claim, enqueue).",
	}, []string{"schedule", "reason"})

	entryInvalid = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shopq_schedule_entry_invalid",
		Help: "1 for each schedule entry skipped because it is invalid.",
	}, []string{"schedule"})

	scheduleLastSlot = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shopq_schedule_last_enqueued_slot_seconds",
		Help: "Unix time of the last slot this process enqueued, by schedule.",
	}, []string{"schedule"})
)

func init() {
	metrics.Registry.MustRegister(scheduleEnqueued, scheduleErrors, entryInvalid, scheduleLastSlot)
}
