// Package metrics holds shopq's Prometheus metrics: per task type counters
// and histograms recorded by the worker middleware, and business counters
// recorded by the families.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Registry holds every shopq metric; the worker serves it at /metrics.
var Registry = prometheus.NewRegistry()

var (
	// TasksProcessed counts finished tasks by type, queue and outcome
	// (success, failed, permanent, throttled, panic).
	TasksProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_tasks_processed_total",
		Help: "Tasks finished, by type, queue and outcome.",
	}, []string{"task_type", "queue", "outcome"})

	// TasksRetried counts attempts that will be retried.
	TasksRetried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_tasks_retried_total",
		Help: "Task attempts that failed and will be retried, by type and queue.",
	}, []string{"task_type", "queue"})

	// TasksArchived counts tasks archived by the worker (permanent failure
	// or retries exhausted).
	TasksArchived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_tasks_archived_total",
		Help: "Tasks archived, by type, queue and reason (permanent, exhausted).",
	}, []string{"task_type", "queue", "reason"})

	// TaskDuration observes handler run time.
	TaskDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopq_task_duration_seconds",
		Help:    "Handler run time, by type and queue.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"task_type", "queue"})

	// TaskQueueWait observes the time from task creation to handler start.
	TaskQueueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopq_task_queue_wait_seconds",
		Help:    "Time from task creation to handler start, by type and queue.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
	}, []string{"task_type", "queue"})

	// StalePricesDropped counts price updates older than the applied version.
	StalePricesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shopq_prices_stale_dropped_total",
		Help: "Price updates dropped because a newer or equal version was applied.",
	})

	// ReservationsRefused counts reservations refused for lack of stock.
	ReservationsRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shopq_reservations_refused_total",
		Help: "Stock reservations refused (not enough available, unknown SKU).",
	})

	// DuplicateMailsSuppressed counts mails not sent again for an effect key.
	DuplicateMailsSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shopq_mail_duplicates_suppressed_total",
		Help: "Mails not sent because their effect key had been sent before.",
	})

	// RowsRejected counts feed rows rejected by catalog imports.
	RowsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shopq_catalog_rows_rejected_total",
		Help: "Feed rows rejected by catalog imports, by format.",
	}, []string{"format"})

	// StockDrift counts SKUs whose counts disagreed with their ledger.
	StockDrift = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shopq_inventory_drift_total",
		Help: "SKUs found by reconciliation whose counts differ from their ledger.",
	})
)

// UnaggregatedGroups counts task groups waiting in a queue this worker
// serves: shopq configures no asynq GroupAggregator, so grouped tasks would
// never be released.
var UnaggregatedGroups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "shopq_queue_groups_without_aggregator",
	Help: "Task groups waiting in a served queue that no aggregator will ever release.",
}, []string{"queue"})

func init() {
	Registry.MustRegister(UnaggregatedGroups)
	Registry.MustRegister(TasksProcessed, TasksRetried, TasksArchived, TaskDuration, TaskQueueWait,
		StalePricesDropped, ReservationsRefused, DuplicateMailsSuppressed, RowsRejected, StockDrift)
}
