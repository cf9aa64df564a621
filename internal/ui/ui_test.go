package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestCheckExposure(t *testing.T) {
	tests := []struct {
		addr, user, pass string
		ok               bool
	}{
		{"127.0.0.1:8080", "", "", true},
		{"localhost:8080", "", "", true},
		{"[::1]:8080", "", "", true},
		{"127.0.0.2:8080", "", "", true},
		{":8080", "", "", false},
		{"0.0.0.0:8080", "", "", false},
		{"[::]:8080", "", "", false},
		{"10.0.0.5:8080", "", "", false},
		{"shop.example:8080", "", "", false},
		{"0.0.0.0:8080", "ops", "s3cret", true},
		{"127.0.0.1:8080", "ops", "", false},
		{"127.0.0.1:8080", "", "s3cret", false},
		{"no-port", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/"+tt.user, func(t *testing.T) {
			err := CheckExposure(tt.addr, tt.user, tt.pass)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestHandlerOptions(t *testing.T) {
	_, err := Handler(Options{})
	require.ErrorContains(t, err, "Redis is required")
	_, err = Handler(Options{Redis: testenv.Redis(t), Username: "ops"})
	require.ErrorContains(t, err, "both")
}

type testBundle struct {
	srv   *httptest.Server
	queue string
	insp  *asynq.Inspector
	task  *asynq.TaskInfo
}

// setup serves the UI as the worker mounts it, over a queue holding one task.
func setup(t *testing.T, opts Options) *testBundle {
	t.Helper()
	rdb := testenv.Redis(t)
	opts.Redis = rdb
	h, err := Handler(opts)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(RootPath+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	queue := testenv.Queue(t, "ui")
	// The UI shows task IDs up to their first '-', so this one has none.
	id := "uitask" + strings.ReplaceAll(testenv.Queue(t, ""), "-", "")
	task, err := tasks.NewTaskFromJSON(tasks.TypeInventorySet, []byte(`{"sku":"MUG-UI","on_hand":4,"version":1}`),
		asynq.Queue(queue), asynq.TaskID(id))
	require.NoError(t, err)
	info, err := asynq.NewClientFromRedisClient(rdb).Enqueue(task)
	require.NoError(t, err)
	return &testBundle{srv: srv, queue: queue, insp: asynq.NewInspectorFromRedisClient(rdb), task: info}
}

func (b *testBundle) do(t *testing.T, method, path, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Username: "ops", Password: "s3cret"})

	for _, path := range []string{"/ui/", "/ui/queues", "/ui/api/queues", "/ui/static/js/main.js"} {
		code, _ := b.do(t, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusUnauthorized, code, path)
	}
	code, _ := b.do(t, http.MethodGet, "/ui/api/queues", "ops", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = b.do(t, http.MethodGet, "/ui/api/queues", "opsx", "s3cret")
	require.Equal(t, http.StatusUnauthorized, code)

	code, body := b.do(t, http.MethodGet, "/ui/api/queues", "ops", "s3cret")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, b.queue)

	code, body = b.do(t, http.MethodGet, "/ui/", "ops", "s3cret")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<div id="root">`)
}

func TestReadOnly(t *testing.T) {
	t.Parallel()

	t.Run("ActionsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{ReadOnly: true})
		code, _ := b.do(t, http.MethodGet, "/ui/api/queues/"+b.queue+"/pending_tasks", "", "")
		require.Equal(t, http.StatusOK, code)

		for _, call := range []struct{ method, path string }{
			{http.MethodPost, "/ui/api/queues/" + b.queue + ":pause"},
			{http.MethodDelete, "/ui/api/queues/" + b.queue + "/pending_tasks:delete_all"},
			{http.MethodPost, "/ui/api/queues/" + b.queue + "/pending_tasks/" + b.task.ID + ":archive"},
			{http.MethodDelete, "/ui/api/queues/" + b.queue + "/pending_tasks/" + b.task.ID},
			{http.MethodPut, "/ui/api/queues/" + b.queue},
		} {
			code, _ := b.do(t, call.method, call.path, "", "")
			require.Equal(t, http.StatusMethodNotAllowed, code, call.path)
		}

		qi, err := b.insp.GetQueueInfo(b.queue)
		require.NoError(t, err)
		require.False(t, qi.Paused)
		require.Equal(t, 1, qi.Pending)
	})

	t.Run("ActionsWorkWhenWritable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{})
		code, _ := b.do(t, http.MethodPost, "/ui/api/queues/"+b.queue+":pause", "", "")
		require.Equal(t, http.StatusNoContent, code)
		qi, err := b.insp.GetQueueInfo(b.queue)
		require.NoError(t, err)
		require.True(t, qi.Paused)

		code, body := b.do(t, http.MethodGet, "/ui/api/queues/"+b.queue, "", "")
		require.Equal(t, http.StatusOK, code)
		var got struct {
			Current struct {
				Paused bool `json:"paused"`
			} `json:"current"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		require.True(t, got.Current.Paused, "the UI shows the paused state")
	})
}
