package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/logging"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	t.Chdir(t.TempDir())
	cfg, err := config.Load("")
	require.NoError(t, err)
	cfg.Redis.URL = testenv.RedisURL(t)
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Mail.OutboxDir = t.TempDir()
	cfg.Worker.Dequeuers = 1
	cfg.Worker.Concurrency = 4
	cfg.Worker.ShutdownTimeout = 3 * time.Second
	return cfg
}

func start(t *testing.T, cfg *config.Config, opts Options) (*App, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	a, err := New(cfg, logging.New(logs, "debug", "json"), opts)
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(a.Shutdown)
	return a, logs
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// Admin endpoints: health, readiness, read API with 404 for unknown SKUs,
// and the per-type histograms on /metrics after a run.
func TestAdminEndpointsAndMetrics(t *testing.T) {
	testenv.Redis(t).FlushDB(context.Background())
	a, _ := start(t, testConfig(t), Options{})
	base := "http://" + a.HTTPAddr()

	code, _ := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	code, body = get(t, base+"/api/v1/stock/NOPE-1")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "NOPE-1", body["sku"])

	task, err := tasks.NewInventorySetTask(tasks.InventorySetPayload{SKU: "MUG-BLU", OnHand: 7, Version: 1})
	require.NoError(t, err)
	info, err := a.Client.Enqueue(task, asynq.Retention(time.Minute))
	require.NoError(t, err)
	waitCompleted(t, a, info)

	code, body = get(t, base+"/api/v1/stock/MUG-BLU")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 7, body["available"])

	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(raw)
	require.Contains(t, text, `shopq_task_duration_seconds_bucket{queue="critical",task_type="inventory:set"`)
	require.Contains(t, text, `shopq_task_queue_wait_seconds_count{queue="critical",task_type="inventory:set"}`)
	require.Contains(t, text, `shopq_tasks_processed_total{outcome="success",queue="critical",task_type="inventory:set"}`)
}

func waitCompleted(t *testing.T, a *App, info *asynq.TaskInfo) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cur, err := a.Inspector.GetTaskInfo(info.Queue, info.ID)
		if err == nil && cur.State == asynq.TaskStateCompleted {
			return cur
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s did not complete", info.ID)
	return nil
}

// B12: grouped tasks in a served queue are reported at startup, since
// shopq runs no aggregator and asynq would keep them for ever.
func TestGroupsWithoutAggregatorAreReported(t *testing.T) {
	testenv.Redis(t).FlushDB(context.Background())
	client := asynq.NewClientFromRedisClient(testenv.Redis(t))
	for i := range 3 {
		_, err := client.Enqueue(asynq.NewTask("prices:changed", []byte(fmt.Sprint(i))),
			asynq.Queue(tasks.QueueDefault), asynq.Group("store-01"))
		require.NoError(t, err)
	}
	a, logs := start(t, testConfig(t), Options{})
	require.Equal(t, 1, a.checkGroups())
	require.Contains(t, logs.String(), "no aggregator")
	require.Contains(t, logs.String(), `"group":"store-01"`)
}

// The UI may not listen beyond loopback without credentials.
func TestExposedUIWithoutCredentialsIsRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Addr = "0.0.0.0:0"
	_, err := New(cfg, logging.New(io.Discard, "info", "json"), Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "ui")
}
