package faults

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/tasks"
)

func termConfig(latency, shutdown string) string {
	return fmt.Sprintf(`http:
  addr: ""
worker:
  concurrency: 3
  dequeuers: 1
  shutdown_timeout: %s
  stop_grace_period: 30s
orders:
  payment:
    latency: %s
  shipment:
    latency: %s
`, shutdown, latency, latency)
}

// activeOrders counts orders:place tasks asynq shows active.
func activeOrders(e *env) int {
	infos, err := e.Insp.ListActiveTasks("critical")
	if err != nil {
		return 0
	}
	n := 0
	for _, i := range infos {
		if i.Type == tasks.TypeOrderPlace {
			n++
		}
	}
	return n
}

// Scenario B02. SIGTERM with three orders running: they finish within the
// shutdown timeout, the other three never start, and the worker exits 0.
// Then orders longer than the shutdown timeout are handed back to pending
// (not archived, retry count unchanged) and, after a restart, applied once.
func TestSIGTERMFinishesRunningRequeuesLongOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "")
	w := newWorkload("term", 3)
	w.seed(t, e)
	w.addOrders(t, 6)
	out := watchOutbox(t, e.Dir+"/outbox")
	w.enqueueAll(t, e)
	svc := orders.New(e.Store, orders.Options{}, orders.Hooks{})
	started := func() (n, accepted int) {
		for _, id := range w.orders {
			st, err := svc.Load(ctx, id)
			require.NoError(t, err)
			if st.Status != "" {
				n++
			}
			if st.Status == tasks.OrderAccepted {
				accepted++
			}
		}
		return n, accepted
	}

	// A: orders take about 2 s; the shutdown timeout is 8 s.
	wk := e.startWorker(e.writeConfig("a.yaml", termConfig("2s", "8s")))
	wk.waitStarted()
	require.Eventually(t, func() bool { return activeOrders(e) == 3 }, 30*time.Second, 5*time.Millisecond)
	wk.signal(syscall.SIGTERM)
	sent := time.Now()
	require.Equal(t, 0, wk.wait(20*time.Second), "exit code after SIGTERM")
	exitA := time.Since(sent)
	t.Logf("A: exit %s after SIGTERM with 3 orders of ~2 s running (shutdown timeout 8 s)", exitA.Round(time.Millisecond))
	require.Less(t, exitA, 8*time.Second, "running tasks must finish within the shutdown timeout")
	n, accepted := started()
	require.Equal(t, 3, n, "orders started: the three running, none after SIGTERM")
	require.Equal(t, 3, accepted, "the three running orders completed")
	pending, err := e.Insp.ListPendingTasks("critical")
	require.NoError(t, err)
	require.Len(t, pending, 3, "three orders still pending")
	c, err := e.counts()
	require.NoError(t, err)
	require.Zero(t, c.Active+c.Retry+c.Archived, "%+v", c)

	// B: orders take 60 s; the shutdown timeout is 2 s.
	wk = e.startWorker(e.writeConfig("b.yaml", termConfig("60s", "2s")))
	wk.waitStarted()
	require.Eventually(t, func() bool { return activeOrders(e) == 3 }, 30*time.Second, 5*time.Millisecond)
	wk.signal(syscall.SIGTERM)
	sent = time.Now()
	require.Equal(t, 0, wk.wait(20*time.Second), "exit code after SIGTERM")
	exitB := time.Since(sent)
	t.Logf("B: exit %s after SIGTERM with 3 orders of 60 s running (shutdown timeout 2 s)", exitB.Round(time.Millisecond))
	require.Less(t, exitB, 10*time.Second)
	pending, err = e.Insp.ListPendingTasks("critical")
	require.NoError(t, err)
	require.Len(t, pending, 3, "the long orders are back in pending")
	for _, p := range pending {
		require.Zero(t, p.Retried, "a task handed back at shutdown keeps its retry count")
	}
	c, err = e.counts()
	require.NoError(t, err)
	require.Zero(t, c.Active+c.Retry+c.Archived, "%+v", c)

	// C: a normal worker applies all six orders once.
	wk = e.startWorker(e.writeConfig("c.yaml", termConfig("10ms", "5s")))
	wk.waitStarted()
	e.waitIdle(4 * time.Minute)
	w.verify(t, e, out)
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(20*time.Second))
}
