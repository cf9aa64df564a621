package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type bundle struct {
	cfgPath string
	outbox  string
	app     *app.App
	logs    *testenv.Buffer
}

// setup starts a worker on the test database and returns a config file
// that points the CLI at it.
func setup(t *testing.T) *bundle {
	t.Helper()
	testenv.Redis(t).FlushDB(context.Background())
	dir := t.TempDir()
	outbox := filepath.Join(dir, "outbox")
	cfgPath := filepath.Join(dir, "shopq.yaml")
	body := fmt.Sprintf(`
redis:
  url: %q
http:
  addr: ""
worker:
  concurrency: 8
  dequeuers: 1
  task_check_interval: 10ms
  shutdown_timeout: 5s
mail:
  transport: file
  outbox_dir: %q
  operators: [ops@example.test]
log:
  level: debug
`, testenv.RedisURL(t), outbox)
	require.NoError(t, os.WriteFile(cfgPath, []byte(body), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	logs := &testenv.Buffer{}
	a, err := app.New(cfg, logging.New(logs, "debug", "json"), app.Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(a.Shutdown)
	return &bundle{cfgPath: cfgPath, outbox: outbox, app: a, logs: logs}
}

// enqueue runs the CLI in-process and returns exit code, stdout, stderr.
func (b *bundle) enqueue(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append(args, "--config", b.cfgPath), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), s)
	return m
}

func TestCoreTasksCompleteAndWaitPrintsResults(t *testing.T) {
	b := setup(t)

	code, out, errOut := b.enqueue(t, `{"sku":"MUG-BLU","on_hand":10,"version":1}`,
		"inventory:set", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	res := decodeJSON(t, out)
	require.Equal(t, true, res["applied"])
	require.EqualValues(t, 10, res["available"])

	code, out, errOut = b.enqueue(t, `{"sku":"MUG-BLU","quantity":3,"operation_id":"o-1/l-1"}`,
		"inventory:reserve", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	res = decodeJSON(t, out)
	require.Equal(t, true, res["granted"])
	require.EqualValues(t, 7, res["available"])

	code, out, errOut = b.enqueue(t, `{"sku":"MUG-BLU","amount":1299,"currency":"EUR","version":5}`,
		"prices:update", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, true, decodeJSON(t, out)["applied"])

	code, out, errOut = b.enqueue(t, `{"sku":"MUG-BLU","amount":999,"currency":"EUR","version":4}`,
		"prices:update", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	res = decodeJSON(t, out)
	require.Equal(t, true, res["stale"])
	require.Equal(t, false, res["applied"])

	code, out, errOut = b.enqueue(t, `{"template":"order-confirmation","to":"Zoë Müller <zoe@example.test>",
		"effect_key":"order-confirmation:e2e-1","data":{"order_id":"e2e-1","customer_name":"Zoë Müller","currency":"EUR","total":2598,
		"items":[{"quantity":2,"title":"Mug","sku":"MUG-BLU","unit_price":1299}]}}`, "mail:send", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	res = decodeJSON(t, out)
	require.Equal(t, true, res["sent"])
	require.NotEmpty(t, res["message_id"])
	emls, err := filepath.Glob(filepath.Join(b.outbox, "*.eml"))
	require.NoError(t, err)
	require.Len(t, emls, 1)
}

func TestValidationErrorsEnqueueNothing(t *testing.T) {
	b := setup(t)
	code, _, errOut := b.enqueue(t, `{"sku":"MUG-BLU","quantity":-3,"operation_id":"x"}`, "inventory:reserve", "--json", "-")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "quantity")

	code, _, errOut = b.enqueue(t, `{"sku":"MUG-BLU","amount":"12.99","currency":"EUR","version":1}`,
		"prices:update", "--json", "-")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "amount")

	code, _, errOut = b.enqueue(t, `{}`, "nosuch:type", "--json", "-")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "nosuch:type")

	code, _, errOut = b.enqueue(t, "", "inventory:reserve", "--json", "-", "--at", "tomorrow")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--at")

	for _, q := range []string{tasks.QueueCritical, tasks.QueueDefault} {
		info, err := b.app.Inspector.GetQueueInfo(q)
		if err == nil {
			require.Zero(t, info.Size, q)
		}
	}
}

// A producer in another language puts a malformed payload on the queue with
// plain asynq: it is archived on its first attempt, its reason visible.
func TestMalformedForeignTaskIsArchivedAtOnce(t *testing.T) {
	b := setup(t)
	client := asynq.NewClientFromRedisClient(testenv.Redis(t))
	info, err := client.Enqueue(asynq.NewTask(tasks.TypeInventoryReserve, []byte(`{"sku": 42`)),
		asynq.Queue(tasks.QueueCritical), asynq.MaxRetry(25))
	require.NoError(t, err)
	unknown, err := client.Enqueue(asynq.NewTask("inventory:teleport", []byte(`{}`)),
		asynq.Queue(tasks.QueueCritical), asynq.MaxRetry(25))
	require.NoError(t, err)

	for _, id := range []string{info.ID, unknown.ID} {
		got := waitState(t, b.app.Inspector, tasks.QueueCritical, id, asynq.TaskStateArchived)
		require.Zero(t, got.Retried, "archived on the first attempt")
		require.NotEmpty(t, got.LastErr)
	}
	got, err := b.app.Inspector.GetTaskInfo(tasks.QueueCritical, info.ID)
	require.NoError(t, err)
	require.Contains(t, got.LastErr, "invalid payload")
	got, err = b.app.Inspector.GetTaskInfo(tasks.QueueCritical, unknown.ID)
	require.NoError(t, err)
	require.Contains(t, got.LastErr, "unknown task type")

	// A commit whose reservation never comes is retried a few times (it may
	// have overtaken its reservation), then archived: --wait exits 1 with
	// the reason on stderr.
	code, _, errOut := b.enqueue(t, `{"operation_id":"never-reserved"}`, "inventory:commit", "--json", "-",
		"--wait", "--wait-timeout", "90s")
	require.Equal(t, exitArchived, code, errOut)
	require.Contains(t, errOut, "not found")
}

func TestUniqueKeyReportsDuplicate(t *testing.T) {
	b := setup(t)
	payload := `{"sku":"CAP-RED","on_hand":4,"version":1}`
	code, _, errOut := b.enqueue(t, payload, "inventory:set", "--json", "-", "--unique-key", "stocktake-7", "--wait")
	require.Equal(t, exitOK, code, errOut)
	code, _, errOut = b.enqueue(t, payload, "inventory:set", "--json", "-", "--unique-key", "stocktake-7")
	require.Equal(t, exitOK, code)
	require.Contains(t, errOut, "already enqueued")
}

func waitState(t *testing.T, insp *asynq.Inspector, queue, id string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		info, err := insp.GetTaskInfo(queue, id)
		if err == nil && info.State == want {
			return info
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s never reached %v", id, want)
	return nil
}

// B05 (c): while an archived task holds a key, a new request with that key
// reports it instead of silently claiming success; after the operator
// deletes it, the next request is accepted at once.
func TestUniqueKeyBlockedByArchivedTask(t *testing.T) {
	b := setup(t)
	client := asynq.NewClientFromRedisClient(testenv.Redis(t))
	_, err := client.Enqueue(asynq.NewTask(tasks.TypeInventorySet, []byte(`{"sku": 7}`)),
		asynq.Queue(tasks.QueueCritical), asynq.TaskID("stocktake-9"), asynq.MaxRetry(25))
	require.NoError(t, err)
	waitState(t, b.app.Inspector, tasks.QueueCritical, "stocktake-9", asynq.TaskStateArchived)

	payload := `{"sku":"CAP-RED","on_hand":4,"version":2}`
	code, _, errOut := b.enqueue(t, payload, "inventory:set", "--json", "-", "--unique-key", "stocktake-9")
	require.Equal(t, exitArchived, code, errOut)
	require.Contains(t, errOut, "blocked by archived task stocktake-9")

	require.NoError(t, b.app.Inspector.DeleteTask(tasks.QueueCritical, "stocktake-9"))
	code, out, errOut := b.enqueue(t, payload, "inventory:set", "--json", "-", "--unique-key", "stocktake-9", "--wait")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, true, decodeJSON(t, out)["applied"])
}

// The families not covered above: catalog import, promotion, order.
func TestCatalogPromotionAndOrderWithWait(t *testing.T) {
	b := setup(t)

	feed, err := filepath.Abs("../../testdata/shopify/home-and-garden.csv")
	require.NoError(t, err)
	code, out, errOut := b.enqueue(t, "", "catalog-import", "--source", feed, "--format", "shopify-csv",
		"--supplier", "home", "--full", "--wait")
	require.Equal(t, exitOK, code, errOut)
	rep := decodeJSON(t, out)
	require.EqualValues(t, 21, rep["rows"])
	require.EqualValues(t, 21, rep["created"])
	require.NotEmpty(t, rep["run_id"])

	code, out, errOut = b.enqueue(t, "", "promotion", "upsert", "--id", "E2E10", "--name", "Ten off",
		"--percent", "10", "--vendors", "Company 123", "--starts-at", "2020-01-01", "--ends-at", "2099-12-31",
		"--time-zone", "Europe/Berlin", "--wait")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, true, decodeJSON(t, out)["applied"])

	code, _, errOut = b.enqueue(t, `{"sku":"MUG-RED","on_hand":5,"version":1}`, "inventory:set", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)
	code, out, errOut = b.enqueue(t, "", "order", "place", "--order-id", "E2E-1", "--email", "zoe@example.test",
		"--currency", "EUR", "--line", "1:MUG-RED:2:1299", "--wait")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, tasks.OrderAccepted, decodeJSON(t, out)["status"])

	code, out, errOut = b.enqueue(t, "", "order", "place", "--order-id", "E2E-2", "--email", "zoe@example.test",
		"--currency", "EUR", "--line", "1:MUG-RED:9:1299", "--wait")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, tasks.OrderRefused, decodeJSON(t, out)["status"], "3 left, 9 asked: refused, not failed")
}

// A commit that overtakes its reservation is retried, not archived, and
// applies once the reservation has run.
func TestCommitOvertakingItsReservationApplies(t *testing.T) {
	b := setup(t)
	code, _, errOut := b.enqueue(t, `{"sku":"LAMP-1","on_hand":4,"version":1}`, "inventory:set", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)

	code, _, errOut = b.enqueue(t, `{"operation_id":"o-77/1"}`, "inventory:commit", "--json", "-", "--unique-key", "commit-o-77")
	require.Equal(t, exitOK, code, errOut)
	time.Sleep(500 * time.Millisecond) // let the commit run first and fail
	code, _, errOut = b.enqueue(t, `{"sku":"LAMP-1","quantity":1,"operation_id":"o-77/1"}`,
		"inventory:reserve", "--json", "-", "--wait")
	require.Equal(t, exitOK, code, errOut)

	info := waitState(t, b.app.Inspector, tasks.QueueCritical, "commit-o-77", asynq.TaskStateCompleted)
	require.Positive(t, info.Retried, "the commit ran before its reservation and was retried")
	var res tasks.InventoryResult
	require.NoError(t, json.Unmarshal(info.Result, &res))
	require.True(t, res.Applied)
	require.EqualValues(t, 3, res.OnHand)
	require.EqualValues(t, 0, res.Reserved)
}
