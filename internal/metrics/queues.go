package metrics

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// AsynqArchiveLimit is the number of archived tasks asynq keeps per queue.
// Archiving one more silently drops the oldest (and, up to asynq v0.26,
// leaves its task hash behind: hibiken/asynq#730), so shopq warns well
// before a queue gets there.
const AsynqArchiveLimit = 10_000

// ArchiveNearLimit is 1 for each queue whose archive holds more than the
// warning share of AsynqArchiveLimit; the dead-letter checker sets it.
var ArchiveNearLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "shopq_queue_archive_near_limit",
	Help: "1 when a queue's archive is close to asynq's 10,000-task limit, past which asynq drops the oldest.",
}, []string{"queue"})

func init() {
	Registry.MustRegister(ArchiveNearLimit)
}

// Task states of shopq_queue_tasks.
var queueStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed", "aggregating"}

var (
	queueTasksDesc = prometheus.NewDesc("shopq_queue_tasks",
		"Tasks in a queue, by state.", []string{"queue", "state"}, nil)
	queuePausedDesc = prometheus.NewDesc("shopq_queue_paused",
		"1 when the queue is paused: nothing is processed, producers still enqueue.", []string{"queue"}, nil)
	queueLatencyDesc = prometheus.NewDesc("shopq_queue_latency_seconds",
		"Age of the oldest pending task in the queue; 0 when none is pending.", []string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc("shopq_queue_memory_bytes",
		"Approximate Redis memory the queue's tasks use (sampled by asynq).", []string{"queue"}, nil)
	queueArchiveFillDesc = prometheus.NewDesc("shopq_queue_archive_fill_ratio",
		"Archived tasks as a share of asynq's per-queue archive limit (10,000).", []string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc("shopq_queue_processed_total",
		"Tasks processed (succeeded or failed) in the queue since asynq started counting.", []string{"queue"}, nil)
	queueFailedDesc = prometheus.NewDesc("shopq_queue_failed_total",
		"Task attempts that failed in the queue since asynq started counting.", []string{"queue"}, nil)
	queueUpDesc = prometheus.NewDesc("shopq_queue_collector_up",
		"1 when the last scrape read every queue from Redis, 0 otherwise.", nil, nil)
	queueScrapeDesc = prometheus.NewDesc("shopq_queue_collector_duration_seconds",
		"Time the last scrape of the queues took.", nil, nil)
)

// QueueCollector exports asynq's view of every queue, read from Redis at
// each scrape: sizes by state, paused, latency, memory, archive fill and
// asynq's processed and failed totals.
type QueueCollector struct {
	insp *asynq.Inspector
}

// NewQueueCollector returns a collector over insp; register it in Registry.
func NewQueueCollector(insp *asynq.Inspector) *QueueCollector {
	return &QueueCollector{insp: insp}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueTasksDesc, queuePausedDesc, queueLatencyDesc, queueMemoryDesc,
		queueArchiveFillDesc, queueProcessedDesc, queueFailedDesc, queueUpDesc, queueScrapeDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	up := 1.0
	defer func() {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(queueScrapeDesc, prometheus.GaugeValue, time.Since(start).Seconds())
	}()

	queues, err := c.insp.Queues()
	if err != nil {
		up = 0
		return
	}
	for _, q := range queues {
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			up = 0
			continue
		}
		collectQueue(ch, info)
	}
}

func collectQueue(ch chan<- prometheus.Metric, info *asynq.QueueInfo) {
	q := info.Queue
	counts := []int{info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed, info.Aggregating}
	for i, state := range queueStates {
		ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(counts[i]), q, state)
	}

	paused := 0.0
	if info.Paused {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(queuePausedDesc, prometheus.GaugeValue, paused, q)
	ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), q)
	ch <- prometheus.MustNewConstMetric(queueMemoryDesc, prometheus.GaugeValue, float64(info.MemoryUsage), q)
	ch <- prometheus.MustNewConstMetric(queueArchiveFillDesc, prometheus.GaugeValue,
		float64(info.Archived)/AsynqArchiveLimit, q)
	ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
	ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
}
