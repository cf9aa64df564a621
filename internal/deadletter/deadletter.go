// Package deadletter lists, re-runs and deletes archived tasks (asynq's
// dead letters: tasks that failed permanently or ran out of retries) and
// warns before a queue's archive reaches asynq's limit.
//
// asynq keeps at most metrics.AsynqArchiveLimit (10,000) archived tasks per
// queue and for at most 90 days; archiving one more silently drops the
// oldest. The Checker logs a warning and sets shopq_queue_archive_near_limit
// once a queue's archive passes WarnRatio of that limit, so operators re-run
// or delete dead letters before any is lost.
package deadletter

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// pageSize is how many archived tasks one inspector call reads.
const pageSize = 1000

// Task is one archived task.
type Task struct {
	ID       string
	Queue    string
	Type     string
	LastErr  string
	FailedAt time.Time
	Retried  int
	MaxRetry int
}

// Filter selects archived tasks.
type Filter struct {
	// Queues to look in; empty means every queue.
	Queues []string
	// Type is an exact task type ("mail:send") or, ending in ':', a family
	// ("mail:"); empty matches every type.
	Type string
	// Limit caps List's result; 0 means no cap.
	Limit int
}

// matches reports whether typ is selected by the filter.
func (f Filter) matches(typ string) bool {
	switch {
	case f.Type == "":
		return true
	case strings.HasSuffix(f.Type, ":"):
		return strings.HasPrefix(typ, f.Type)
	default:
		return typ == f.Type
	}
}

// queues returns the filter's queues, or every queue asynq knows.
func (f Filter) queues(insp *asynq.Inspector) ([]string, error) {
	if len(f.Queues) > 0 {
		return f.Queues, nil
	}
	qs, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	sort.Strings(qs)
	return qs, nil
}

// List returns the archived tasks the filter selects, queue by queue,
// oldest archived first within each queue (asynq's order).
func List(insp *asynq.Inspector, f Filter) ([]Task, error) {
	qs, err := f.queues(insp)
	if err != nil {
		return nil, err
	}
	var out []Task
	for _, q := range qs {
		err := eachArchived(insp, q, func(ti *asynq.TaskInfo) bool {
			if f.matches(ti.Type) {
				out = append(out, fromInfo(ti))
			}
			return f.Limit <= 0 || len(out) < f.Limit
		})
		if err != nil {
			return nil, err
		}
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}

// eachArchived calls fn for each archived task of queue until fn returns
// false.
func eachArchived(insp *asynq.Inspector, queue string, fn func(*asynq.TaskInfo) bool) error {
	for page := 1; ; page++ {
		infos, err := insp.ListArchivedTasks(queue, asynq.PageSize(pageSize), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list archived tasks of %s: %w", queue, err)
		}
		for _, ti := range infos {
			if !fn(ti) {
				return nil
			}
		}
		if len(infos) < pageSize {
			return nil
		}
	}
}

func fromInfo(ti *asynq.TaskInfo) Task {
	return Task{ID: ti.ID, Queue: ti.Queue, Type: ti.Type, LastErr: ti.LastErr, FailedAt: ti.LastFailedAt,
		Retried: ti.Retried, MaxRetry: ti.MaxRetry}
}

// Group is the archived tasks of one queue and type.
type Group struct {
	Queue    string
	Type     string
	Count    int
	LastErr  string
	FailedAt time.Time
}

// Summarize groups tasks by queue and type with the most recent error of
// each group, sorted by queue then type.
func Summarize(tasks []Task) []Group {
	idx := map[[2]string]*Group{}
	for _, t := range tasks {
		k := [2]string{t.Queue, t.Type}
		g := idx[k]
		if g == nil {
			g = &Group{Queue: t.Queue, Type: t.Type}
			idx[k] = g
		}
		g.Count++
		if g.FailedAt.IsZero() || t.FailedAt.After(g.FailedAt) {
			g.FailedAt, g.LastErr = t.FailedAt, t.LastErr
		}
	}
	out := make([]Group, 0, len(idx))
	for _, g := range idx {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Queue != out[j].Queue {
			return out[i].Queue < out[j].Queue
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// ErrNotArchived is returned when a task ID names no archived task.
var ErrNotArchived = errors.New("no archived task with that id")

// find returns the queue holding archived task id, searching f's queues.
func find(insp *asynq.Inspector, f Filter, id string) (string, error) {
	qs, err := f.queues(insp)
	if err != nil {
		return "", err
	}
	for _, q := range qs {
		ti, err := insp.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("look up task %s in %s: %w", id, q, err)
		}
		if ti.State == asynq.TaskStateArchived {
			return q, nil
		}
	}
	return "", fmt.Errorf("task %s: %w", id, ErrNotArchived)
}

// Run moves one archived task back to pending; with no queues in f every
// queue is searched for id. It returns the task's queue.
func Run(insp *asynq.Inspector, f Filter, id string) (string, error) {
	q, err := find(insp, f, id)
	if err != nil {
		return "", err
	}
	if err := insp.RunTask(q, id); err != nil {
		return "", fmt.Errorf("run task %s in %s: %w", id, q, err)
	}
	return q, nil
}

// Delete removes one archived task; with no queues in f every queue is
// searched for id. It returns the task's queue.
func Delete(insp *asynq.Inspector, f Filter, id string) (string, error) {
	q, err := find(insp, f, id)
	if err != nil {
		return "", err
	}
	if err := insp.DeleteTask(q, id); err != nil {
		return "", fmt.Errorf("delete task %s in %s: %w", id, q, err)
	}
	return q, nil
}

// RunMatching moves every archived task the filter selects back to pending
// and returns how many it moved. Filter.Limit is ignored.
func RunMatching(insp *asynq.Inspector, f Filter) (int, error) {
	return matching(insp, f, insp.RunAllArchivedTasks, insp.RunTask, "run")
}

// DeleteMatching deletes every archived task the filter selects and returns
// how many it deleted. Filter.Limit is ignored.
func DeleteMatching(insp *asynq.Inspector, f Filter) (int, error) {
	return matching(insp, f, insp.DeleteAllArchivedTasks, insp.DeleteTask, "delete")
}

func matching(insp *asynq.Inspector, f Filter, all func(string) (int, error), one func(string, string) error,
	verb string,
) (int, error) {
	qs, err := f.queues(insp)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, q := range qs {
		if f.Type == "" {
			n, err := all(q)
			total += n
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return total, fmt.Errorf("%s archived tasks of %s: %w", verb, q, err)
			}
			continue
		}
		// Collect first: acting while paging would shift the pages.
		var ids []string
		if err := eachArchived(insp, q, func(ti *asynq.TaskInfo) bool {
			if f.matches(ti.Type) {
				ids = append(ids, ti.ID)
			}
			return true
		}); err != nil {
			return total, err
		}
		for _, id := range ids {
			err := one(q, id)
			if errors.Is(err, asynq.ErrTaskNotFound) {
				continue // gone meanwhile (deleted, or trimmed by asynq)
			}
			if err != nil {
				return total, fmt.Errorf("%s task %s in %s: %w", verb, id, q, err)
			}
			total++
		}
	}
	return total, nil
}
