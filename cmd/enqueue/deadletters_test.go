package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/testenv"
)

// enqueueForDead enqueues n tasks of typ in queue and returns their IDs.
func enqueueForDead(t *testing.T, client *asynq.Client, queue, typ string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		info, err := client.Enqueue(asynq.NewTask(typ, []byte(`{}`)), asynq.Queue(queue))
		require.NoError(t, err)
		ids = append(ids, info.ID)
	}
	return ids
}

func TestDeadLetterCommand(t *testing.T) {
	rdb := testenv.Redis(t)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	client := asynq.NewClientFromRedisClient(rdb)
	queue := testenv.Queue(t, "dead")

	mails := enqueueForDead(t, client, queue, "mail:send", 2)
	stock := enqueueForDead(t, client, queue, "inventory:set", 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues: map[string]int{queue: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond,
	})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		return fmt.Errorf("%s refused by supplier\nline two: %w", task.Type(), asynq.SkipRetry)
	})))
	require.Eventually(t, func() bool {
		qi, err := insp.GetQueueInfo(queue)
		return err == nil && qi.Archived == 3
	}, 15*time.Second, 20*time.Millisecond)
	srv.Shutdown()

	dead := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := deadLetterCommand(args, insp, &out)
		return out.String(), err
	}

	out, err := dead("list", "--queues", queue)
	require.NoError(t, err)
	for _, id := range append(mails, stock...) {
		require.Contains(t, out, id)
	}
	require.Contains(t, out, "mail:send refused by supplier line two", "errors are shown on one line")

	out, err = dead("list", "--queue", queue, "--summary")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^`+queue+`\s+inventory:set\s+1\s`, lines[1])
	require.Regexp(t, `^`+queue+`\s+mail:send\s+2\s`, lines[2])

	out, err = dead("run", "--queues", queue, "--id", mails[0])
	require.NoError(t, err)
	require.Equal(t, "re-queued "+mails[0]+" in "+queue+"\n", out)

	out, err = dead("delete", "--queues", queue, "--type", "mail:")
	require.NoError(t, err)
	require.Equal(t, "deleted 1 archived tasks\n", out)

	out, err = dead("run", "--queues", queue, "--all")
	require.NoError(t, err)
	require.Equal(t, "re-queued 1 archived tasks\n", out)
	qi, err := insp.GetQueueInfo(queue)
	require.NoError(t, err)
	require.Zero(t, qi.Archived)
	require.Equal(t, 2, qi.Pending)

	out, err = dead("purge", "--queues", queue, "--max-size", "1")
	require.NoError(t, err)
	require.Contains(t, out, "deleted 0 archived tasks in all")

	out, err = dead("check")
	require.NoError(t, err)
	require.Contains(t, out, queue)

	for _, bad := range [][]string{
		{}, {"list", "extra"}, {"run", "--queues", queue}, {"run", "--all", "--type", "mail:send"}, {"purge"}, {"wipe"},
	} {
		_, err := dead(bad...)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%v", bad)
	}
	_, err = dead("delete", "--id", "no-such-task")
	require.ErrorContains(t, err, "no archived task")
}
