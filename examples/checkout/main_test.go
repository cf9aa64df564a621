package main

import (
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

func TestCheckoutEnqueuesOnceAndRejectsBadOrders(t *testing.T) {
	rdb := testenv.Redis(t)
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	srv := httptest.NewServer(NewHandler(client))
	defer srv.Close()

	body := `{"order_id":"ex-1001","email":"zoe@example.test",
	  "lines":[{"line_id":"1","sku":"MUG-BLU","quantity":2,"unit_amount":1299,"currency":"EUR"}]}`
	post := func(b string) *http.Response {
		resp, err := http.Post(srv.URL+"/checkout", "application/json", strings.NewReader(b))
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	require.Equal(t, http.StatusAccepted, post(body).StatusCode)
	require.Equal(t, http.StatusAccepted, post(body).StatusCode) // double click

	info, err := insp.GetTaskInfo(tasks.QueueCritical, "order:ex-1001")
	require.NoError(t, err)
	require.Equal(t, tasks.TypeOrderPlace, info.Type)
	pending, err := insp.ListPendingTasks(tasks.QueueCritical)
	require.NoError(t, err)
	require.Len(t, pending, 1)

	bad := strings.Replace(body, `"quantity":2`, `"quantity":-2`, 1)
	bad = strings.Replace(bad, "ex-1001", "ex-1002", 1)
	resp := post(bad)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	_, err = insp.GetTaskInfo(tasks.QueueCritical, "order:ex-1002")
	require.ErrorIs(t, err, asynq.ErrTaskNotFound)
}
