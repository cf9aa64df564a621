package deadletter

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Limits bound every queue's archive below asynq's own (10,000 tasks, 90
// days), so dead letters do not hold Redis memory for months.
type Limits struct {
	// MaxSize is the most archived tasks kept per queue; older ones are
	// deleted first. 0 leaves asynq's limit alone.
	MaxSize int
	// MaxAge deletes archived tasks that failed longer ago than this. 0
	// leaves asynq's 90 days alone.
	MaxAge time.Duration
}

// Purge deletes, in each of queues (every queue when empty), the archived
// tasks beyond limits (the oldest first) and returns how many it deleted per
// queue. Deleting a task removes its hash too, so nothing is left behind.
func Purge(insp *asynq.Inspector, queues []string, limits Limits, now time.Time) (map[string]int, error) {
	if limits.MaxSize <= 0 && limits.MaxAge <= 0 {
		return nil, nil
	}
	qs, err := Filter{Queues: queues}.queues(insp)
	if err != nil {
		return nil, err
	}
	deleted := map[string]int{}
	for _, q := range qs {
		n, err := purgeQueue(insp, q, limits, now)
		if n > 0 {
			deleted[q] = n
		}
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

func purgeQueue(insp *asynq.Inspector, queue string, limits Limits, now time.Time) (int, error) {
	// asynq lists archived tasks oldest first.
	var all []*asynq.TaskInfo
	if err := eachArchived(insp, queue, func(ti *asynq.TaskInfo) bool {
		all = append(all, ti)
		return true
	}); err != nil {
		return 0, err
	}

	excess := 0
	if limits.MaxSize > 0 && len(all) > limits.MaxSize {
		excess = len(all) - limits.MaxSize
	}
	n := 0
	for i, ti := range all {
		tooOld := limits.MaxAge > 0 && !ti.LastFailedAt.IsZero() && now.Sub(ti.LastFailedAt) > limits.MaxAge
		if i >= excess && !tooOld {
			continue
		}
		err := insp.DeleteTask(queue, ti.ID)
		if errors.Is(err, asynq.ErrTaskNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("purge task %s in %s: %w", ti.ID, queue, err)
		}
		n++
	}
	return n, nil
}
