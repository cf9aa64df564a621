package tasks

import (
	"context"
	"sync"

	"github.com/hibiken/asynq"
)

// Enqueuer is what EnqueueMany needs; *asynq.Client satisfies it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// DefaultEnqueueWorkers is the concurrency EnqueueMany uses when given 0.
const DefaultEnqueueWorkers = 16

// EnqueueMany enqueues ts from up to workers goroutines sharing c: asynq
// v0.26 has no batch call, and concurrent calls on one client are its
// fastest path. The results are by index: infos[i] and errs[i] belong to
// ts[i]; one failure does not stop the others.
func EnqueueMany(ctx context.Context, c Enqueuer, ts []*asynq.Task, workers int, opts ...asynq.Option,
) ([]*asynq.TaskInfo, []error) {
	if workers <= 0 {
		workers = DefaultEnqueueWorkers
	}
	infos := make([]*asynq.TaskInfo, len(ts))
	errs := make([]error, len(ts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(ts)) {
		wg.Go(func() {
			for i := range next {
				infos[i], errs[i] = c.EnqueueContext(ctx, ts[i], opts...)
			}
		})
	}
	for i := range ts {
		next <- i
	}
	close(next)
	wg.Wait()
	return infos, errs
}
