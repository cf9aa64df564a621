package metrics

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// gatherQueue scrapes reg and returns the value of each series of queue,
// keyed by metric name plus ":" + state for shopq_queue_tasks.
func gatherQueue(t *testing.T, reg *prometheus.Registry, queue string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key, match := f.GetName(), len(m.GetLabel()) == 0
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "queue":
					match = l.GetValue() == queue
				case "state":
					key += ":" + l.GetValue()
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestQueueCollector(t *testing.T) {
	rdb := testenv.Redis(t)
	queue := testenv.Queue(t, "metrics")
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)

	for i := range 3 {
		_, err := client.Enqueue(asynq.NewTask("inventory:set", []byte(`{}`)), asynq.Queue(queue),
			asynq.TaskID(queue+"-p"+string(rune('a'+i))))
		require.NoError(t, err)
	}
	_, err := client.Enqueue(asynq.NewTask("inventory:set", []byte(`{}`)), asynq.Queue(queue), asynq.ProcessIn(time.Hour))
	require.NoError(t, err)
	require.NoError(t, insp.ArchiveTask(queue, queue+"-pa"))
	require.NoError(t, insp.PauseQueue(queue))
	time.Sleep(10 * time.Millisecond) // let the oldest pending task age

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(insp))
	got := gatherQueue(t, reg, queue)

	require.InDelta(t, 2.0, got["shopq_queue_tasks:pending"], 0)
	require.InDelta(t, 1.0, got["shopq_queue_tasks:scheduled"], 0)
	require.InDelta(t, 1.0, got["shopq_queue_tasks:archived"], 0)
	require.InDelta(t, 0.0, got["shopq_queue_tasks:active"], 0)
	require.InDelta(t, 1.0, got["shopq_queue_paused"], 0)
	require.Positive(t, got["shopq_queue_latency_seconds"])
	require.Positive(t, got["shopq_queue_memory_bytes"])
	require.InDelta(t, 1.0/AsynqArchiveLimit, got["shopq_queue_archive_fill_ratio"], 1e-12)
	require.Contains(t, got, "shopq_queue_processed_total")
	require.InDelta(t, 1.0, got["shopq_queue_collector_up"], 0)
}

func TestQueueCollectorRedisDown(t *testing.T) {
	// A closed client makes every call fail: the scrape still answers.
	rdb := testenv.Redis(t)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	require.NoError(t, rdb.Close())

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(insp))
	got := gatherQueue(t, reg, "")
	require.InDelta(t, 0.0, got["shopq_queue_collector_up"], 0)
}
