package tasks

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
)

type recordingEnqueuer struct {
	mu  sync.Mutex
	got map[string]int
}

func (r *recordingEnqueuer) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[string(t.Payload())]++
	if string(t.Payload()) == "7" {
		return nil, errors.New("refused")
	}
	return &asynq.TaskInfo{ID: string(t.Payload())}, nil
}

// Every task is enqueued once, results and errors stay at their index,
// and one failure does not stop the others.
func TestEnqueueManyKeepsOrderAndGoesOn(t *testing.T) {
	r := &recordingEnqueuer{got: map[string]int{}}
	var ts []*asynq.Task
	for i := range 50 {
		ts = append(ts, asynq.NewTask("x:y", []byte{byte('0' + i%10)}))
	}
	ts[7] = asynq.NewTask("x:y", []byte("7"))
	infos, errs := EnqueueMany(context.Background(), r, ts, 4)
	require.Len(t, infos, 50)
	for i := range ts {
		if string(ts[i].Payload()) == "7" {
			require.Error(t, errs[i])
			require.Nil(t, infos[i])
			continue
		}
		require.NoError(t, errs[i])
		require.Equal(t, string(ts[i].Payload()), infos[i].ID)
	}
	total := 0
	for _, n := range r.got {
		total += n
	}
	require.Equal(t, 50, total)
}
