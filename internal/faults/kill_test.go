package faults

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

// killConfig makes orders slow (2 s per partner call) and mails rate
// limited, so that a kill lands while tasks of several families run.
const killConfig = `http:
  addr: ""
worker:
  concurrency: 12
  dequeuers: 1
  shutdown_timeout: 5s
  stop_grace_period: 10s
catalog:
  chunk_size: 5
orders:
  payment:
    latency: 2s
  shipment:
    latency: 2s
`

// Control for the SIGKILL test: the same workload on a worker that is not
// disturbed passes the same checks, so they check the workload's effects
// rather than an artefact of the kill.
func TestWorkloadUndisturbed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	w := newWorkload("calm", 4)
	w.seed(t, e)
	w.addStock(t, 12)
	w.addPrices(t, 5)
	w.addMails(t, 6)
	w.addOrders(t, 4)
	w.addPromotions(2)
	w.addCatalog(t)
	out := watchOutbox(t, filepath.Join(e.Dir, "outbox"))
	w.enqueueAll(t, e)
	wk := e.startWorker(e.writeConfig("worker.yaml", "http:\n  addr: \"\"\n"))
	wk.waitStarted()
	e.waitIdle(2 * time.Minute)
	w.verify(t, e, out)
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
}

// Every task type keeps retries for a crash: asynq counts an expired lease
// as a failed attempt, so a type without retries would be archived by one
// killed worker.
func TestEveryTypeSurvivesACrash(t *testing.T) {
	t.Parallel()
	for _, s := range tasks.Specs() {
		require.GreaterOrEqual(t, s.MaxRetry, 3, s.Type)
	}
}

// The worker is killed with SIGKILL while tasks of every family run, then
// started again: asynq's lease (30 s) expires, its recoverer (every
// minute) hands the tasks back, and every effect is present exactly once
// with nothing archived. The test logs the measured recovery time.
func TestSIGKILLMidFlightEveryEffectOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	w := newWorkload("kill", 6)
	w.seed(t, e)
	w.addStock(t, 30)
	w.addPrices(t, 8)
	w.addMails(t, 30)
	w.addOrders(t, 12)
	w.addPromotions(2)
	w.addCatalog(t)
	out := watchOutbox(t, filepath.Join(e.Dir, "outbox"))
	cfg := e.writeConfig("worker.yaml", killConfig)

	w.enqueueAll(t, e)
	wk := e.startWorker(cfg)
	wk.waitStarted()

	// Kill once orders are running (each takes about 2 s).
	var before counts
	require.Eventually(t, func() bool {
		infos, err := e.Insp.ListActiveTasks("critical")
		if err != nil {
			return false
		}
		orders := 0
		for _, i := range infos {
			if i.Type == "orders:place" {
				orders++
			}
		}
		before, _ = e.counts()
		return orders >= 3
	}, 60*time.Second, 10*time.Millisecond, "orders never became active")
	time.Sleep(500 * time.Millisecond) // mid-call: payment and shipment take 2 s
	before, err := e.counts()
	require.NoError(t, err)
	require.Positive(t, before.Active, "the kill must hit active tasks")
	wk.signal(syscall.SIGKILL)
	killed := time.Now()
	wk.wait(10 * time.Second)
	at, err := e.counts()
	require.NoError(t, err)
	t.Logf("killed with %d active, %d pending, %d retry (after the kill asynq still shows %d active)",
		before.Active, before.Pending, before.Retry, at.Active)
	require.Positive(t, at.Active, "tasks left active by the killed worker")

	wk2 := e.startWorker(cfg)
	wk2.waitStarted()
	// Measure when the killed worker's tasks left the active state (the
	// recoverer took them) and when every task was done.
	var recovered time.Duration
	require.Eventually(t, func() bool {
		c, err := e.counts()
		if err != nil {
			return false
		}
		if recovered == 0 && c.Active == 0 {
			recovered = time.Since(killed)
		}
		return c.open() == 0
	}, 4*time.Minute, 100*time.Millisecond, "tasks still open after the restart")
	recovery := time.Since(killed)
	t.Logf("recovery after SIGKILL: leases recovered after %s, no task open after %s",
		recovered.Round(time.Second), recovery.Round(time.Second))

	w.verify(t, e, out)
	wk2.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk2.wait(30*time.Second))
}
