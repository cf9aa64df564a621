package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/tasks"
)

// producer enqueues stock adjusts and mails until stopped, and records
// which of them Redis acknowledged.
type producer struct {
	mu       sync.Mutex
	acked    map[string]bool // operation ids and mail effect keys
	tried    map[string]bool
	opSKU    map[string]string
	failures int
	stop     chan struct{}
	done     chan struct{}
}

func startProducer(t *testing.T, e *env, skus []string) *producer {
	p := &producer{acked: map[string]bool{}, tried: map[string]bool{}, opSKU: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var (
				id   string
				task *asynq.Task
				err  error
			)
			if i%5 == 4 {
				id = fmt.Sprintf("mail-%d", i)
				task, err = tasks.NewMailSendTask(tasks.MailSendPayload{
					Template: tasks.TemplateShipmentUpdate, To: "c@example.test", EffectKey: id,
					Data: map[string]any{"customer_name": "C", "order_id": id, "status": "shipped",
						"carrier": "DHL", "tracking_number": "1Z", "shop_name": "Shop"},
				})
			} else {
				id = fmt.Sprintf("op-%d", i)
				task, err = tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
					SKU: skus[i%len(skus)], Delta: 1, Reason: tasks.ReasonDelivery, OperationID: id,
				})
			}
			if err != nil {
				t.Errorf("constructor: %v", err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = e.Cli.EnqueueContext(ctx, task)
			cancel()
			p.mu.Lock()
			p.tried[id] = true
			if !strings.HasPrefix(id, "mail-") {
				p.opSKU[id] = skus[i%len(skus)]
			}
			if err == nil {
				p.acked[id] = true
			} else {
				p.failures++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *producer) halt() {
	close(p.stop)
	<-p.done
}

// check requires every acknowledged task's effect once: each acknowledged
// adjust has its ledger entry and the stock equals the initial count plus
// one per applied operation; each acknowledged mail is in the outbox,
// written once.
func (p *producer) check(t *testing.T, e *env, w *workload, out *outbox) {
	t.Helper()
	ctx := context.Background()
	p.mu.Lock()
	defer p.mu.Unlock()
	applied := map[string]int64{}
	for id, sku := range p.opSKU {
		n, err := e.RDB.Exists(ctx, e.Store.TagKey("sku", sku, "op", id)).Result()
		require.NoError(t, err)
		if p.acked[id] {
			require.EqualValues(t, 1, n, "acknowledged adjust %s has no ledger entry", id)
		}
		applied[sku] += n
	}
	for _, sku := range w.skus {
		lvl, err := e.RDB.HGet(ctx, e.Store.TagKey("sku", sku, "stock"), "on_hand").Int64()
		require.NoError(t, err)
		require.Equal(t, w.initial+applied[sku], lvl, "%s: initial + one per applied adjust", sku)
	}
	out.close()
	out.mu.Lock()
	defer out.mu.Unlock()
	require.Empty(t, out.rewrites, "mails sent twice")
	files := map[string]bool{}
	for name := range out.inodes {
		files[name] = true
	}
	for id := range p.tried {
		if !strings.HasPrefix(id, "mail-") {
			continue
		}
		name := strings.SplitN(mailer.MessageID(id, mailDomain), "@", 2)[0] + ".eml"
		if p.acked[id] {
			require.True(t, files[name], "acknowledged mail %s not sent", id)
		}
		delete(files, name)
	}
	require.Empty(t, files, "mails nobody asked for")
}

const redisFaultConfig = `http:
  addr: %q
worker:
  concurrency: 8
  dequeuers: 1
`

// redisFault runs producers and a worker, stops Redis (SHUTDOWN, which
// flushes the append-only file), keeps it down for outage, starts it again
// on the same port and directory, and checks that the worker recovered on
// its own and that nothing acknowledged was lost.
func redisFault(t *testing.T, outage time.Duration) {
	e := newEnv(t, "")
	w := newWorkload("redis", 4)
	w.seed(t, e)
	out := watchOutbox(t, filepath.Join(e.Dir, "outbox"))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	wk := e.startWorker(e.writeConfig("worker.yaml", fmt.Sprintf(redisFaultConfig, addr)))
	wk.waitStarted()
	ready := "http://" + addr + "/readyz"
	require.Equal(t, 200, httpStatus(ready))

	p := startProducer(t, e, w.skus)
	time.Sleep(time.Second)
	e.Redis.Shutdown()
	down := time.Now()
	saw503 := false
	for time.Since(down) < outage || !saw503 {
		if httpStatus(ready) == 503 {
			saw503 = true
		}
		require.True(t, wk.running(), "the worker exited during the outage:\n%s", tail(wk.out.String(), 3000))
		if time.Since(down) > outage+10*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, saw503, "/readyz must answer 503 while Redis is down")
	e.Redis.Start()
	t.Logf("Redis down for %s", time.Since(down).Round(time.Millisecond))
	require.Eventually(t, func() bool { return httpStatus(ready) == 200 }, 30*time.Second, 100*time.Millisecond,
		"/readyz after Redis came back")
	time.Sleep(time.Second)
	p.halt()
	require.Positive(t, p.failures, "producers must see errors while Redis is down")
	t.Logf("producer: %d acknowledged, %d refused", len(p.acked), p.failures)

	took := e.waitIdle(3 * time.Minute)
	t.Logf("queues empty %s after the producers stopped", took.Round(time.Millisecond))
	require.True(t, wk.running(), "the worker recovered without a restart")
	c, err := e.counts()
	require.NoError(t, err)
	require.Zero(t, c.Archived, "%+v %s", c, archivedErrors(e))
	p.check(t, e, w, out)
	require.Regexp(t, `"level":"(ERROR|WARN)"[^\n]*(?i:redis|connection refused|EOF|broken pipe)`, wk.out.String(),
		"the worker reports the outage in its log")
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
}

// Redis restarted under load: producers and worker carry on, nothing
// acknowledged is lost.
func TestRedisRestartUnderLoad(t *testing.T) {
	t.Parallel()
	redisFault(t, 0)
}

// Redis unreachable for 20 s under load: /readyz says so, producers get
// errors, and the worker resumes on its own when Redis is back.
func TestRedisUnreachable20s(t *testing.T) {
	t.Parallel()
	redisFault(t, 20*time.Second)
}
