package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/tasks"
)

// keep is how long the demo's task results stay readable.
const keep = 2 * time.Hour

type runner struct {
	app    *app.App
	out    io.Writer
	outbox string

	accepted int
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// all runs the import and the replay and prints the summary; ok is false
// when something is not accounted for.
func (r *runner) all(ctx context.Context, o options) (bool, error) {
	start := time.Now()
	ok := true
	r.printf("== Catalog import (Shopify product exports)\n")
	for _, feed := range o.feeds {
		good, err := r.importFeed(ctx, feed)
		if err != nil {
			return false, err
		}
		ok = ok && good
	}
	if err := r.drain(ctx); err != nil {
		return false, err
	}

	r.printf("\n== Order replay (%s)\n", o.orders)
	good, err := r.replay(ctx, o)
	if err != nil {
		return false, err
	}
	ok = ok && good

	good, err = r.mails()
	if err != nil {
		return false, err
	}
	ok = ok && good
	r.printf("\nfinished in %v: %s\n", time.Since(start).Round(time.Millisecond), verdict(ok))
	return ok, nil
}

func verdict(ok bool) string {
	if ok {
		return "every input accounted for"
	}
	return "MISMATCH"
}

func (r *runner) importFeed(ctx context.Context, feed string) (bool, error) {
	abs, err := filepath.Abs(feed)
	if err != nil {
		return false, err
	}
	supplier := strings.TrimSuffix(filepath.Base(feed), filepath.Ext(feed))
	t, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
		Source: abs, Format: tasks.FormatShopifyCSV, Supplier: supplier, Full: true,
	})
	if err != nil {
		return false, err
	}
	info, err := r.app.Client.EnqueueContext(ctx, t, asynq.Retention(keep))
	if err != nil {
		return false, err
	}
	done, err := r.wait(ctx, info)
	if err != nil {
		return false, err
	}
	var res tasks.CatalogImportResult
	if err := json.Unmarshal(done.Result, &res); err != nil {
		return false, fmt.Errorf("import %s: result: %w", feed, err)
	}
	accounted := res.Created + res.Updated + res.Unchanged + res.Skipped + len(res.Rejected)
	r.printf("%-22s rows %d: created %d, updated %d, unchanged %d, skipped %d (image-only), rejected %d  [%s]\n",
		filepath.Base(feed), res.Rows, res.Created, res.Updated, res.Unchanged, res.Skipped, len(res.Rejected), res.Status)
	for _, rej := range res.Rejected {
		r.printf("    row %d %s: %s\n", rej.Row, rej.Field, rej.Reason)
	}
	if accounted != res.Rows {
		r.printf("    MISMATCH: %d rows read, %d accounted for\n", res.Rows, accounted)
		return false, nil
	}
	return true, nil
}

func (r *runner) replay(ctx context.Context, o options) (bool, error) {
	f, err := os.Open(o.orders)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }()
	plan, err := orders.PlanReplay(f, orders.ReplayOptions{
		SeedStock: o.stock, TaskOptions: []asynq.Option{asynq.Retention(keep)},
	})
	if err != nil {
		return false, err
	}
	s := plan.Summary
	r.printf("seeding %d SKUs with %d units each\n", len(plan.Seed), o.stock)
	if err := r.enqueueAll(ctx, plan.Seed); err != nil {
		return false, err
	}
	if err := r.drain(ctx); err != nil {
		return false, err
	}
	r.printf("replaying %d tasks from %d lines\n", len(plan.Tasks), s.Lines)
	if err := r.enqueueAll(ctx, plan.Tasks); err != nil {
		return false, err
	}
	if err := r.drain(ctx); err != nil {
		return false, err
	}

	res, err := r.results(ctx)
	if err != nil {
		return false, err
	}
	kinds := s.Orders + s.Cancellations + s.WriteOffs + s.NonProductOnly + s.BadOnly
	r.printf("\ninvoices: %d\n", s.Invoices)
	r.printf("  orders           %4d  accepted %d, refused %d (not enough stock), failed %d\n",
		s.Orders, res.accepted, res.refused, res.failed)
	r.printf("  cancellations    %4d  of orders in the file %d, returns of earlier orders %d\n",
		s.Cancellations, s.CancelledOrders, s.Returns)
	r.printf("  write-offs       %4d  (negative quantities outside cancellations)\n", s.WriteOffs)
	r.printf("  non-product only %4d  (postage, discounts, manual lines)\n", s.NonProductOnly)
	if s.BadOnly > 0 {
		r.printf("  bad lines only   %4d\n", s.BadOnly)
	}
	r.printf("lines skipped as non-product: %s\n", formatCounts(s.Skipped))
	for _, b := range s.Bad {
		r.printf("  bad line %d: %s\n", b.Line, b.Reason)
	}

	ok := true
	if kinds != s.Invoices {
		r.printf("MISMATCH: %d invoices, %d accounted for by kind\n", s.Invoices, kinds)
		ok = false
	}
	if res.accepted+res.refused+res.failed != s.Orders {
		r.printf("MISMATCH: %d orders, %d outcomes\n", s.Orders, res.accepted+res.refused+res.failed)
		ok = false
	}
	if res.archived > 0 {
		r.printf("MISMATCH: %d tasks archived\n", res.archived)
		ok = false
	}
	r.accepted = res.accepted
	return ok, nil
}

type results struct {
	accepted, refused, failed, archived int
}

// results reads the kept results of every completed task.
func (r *runner) results(ctx context.Context) (results, error) {
	var res results
	queues, err := r.app.Inspector.Queues()
	if err != nil {
		return res, err
	}
	for _, q := range queues {
		info, err := r.app.Inspector.GetQueueInfo(q)
		if err != nil {
			return res, err
		}
		res.archived += info.Archived
		for page := 1; ctx.Err() == nil; page++ {
			done, err := r.app.Inspector.ListCompletedTasks(q, asynq.PageSize(1000), asynq.Page(page))
			if err != nil {
				return res, err
			}
			if len(done) == 0 {
				break
			}
			for _, t := range done {
				res.count(t)
			}
		}
	}
	return res, ctx.Err()
}

func (res *results) count(t *asynq.TaskInfo) {
	switch t.Type {
	case tasks.TypeOrderPlace:
		var o tasks.OrderResult
		if json.Unmarshal(t.Result, &o) != nil {
			return
		}
		switch o.Status {
		case tasks.OrderAccepted:
			res.accepted++
		case tasks.OrderRefused:
			res.refused++
		default:
			res.failed++
		}
	}
}

// mails counts the outbox by template (the X-Shopq-Template header).
func (r *runner) mails() (bool, error) {
	files, err := filepath.Glob(filepath.Join(r.outbox, "*.eml"))
	if err != nil {
		return false, err
	}
	byTemplate := map[string]int{}
	for _, f := range files {
		name, err := templateOf(f)
		if err != nil {
			return false, err
		}
		byTemplate[name]++
	}
	r.printf("\nmails written to %s: %d (%s)\n", r.outbox, len(files), formatCounts(byTemplate))
	ok := true
	if c := byTemplate[tasks.TemplateOrderConfirmation]; c != r.accepted {
		r.printf("MISMATCH: %d order confirmations for %d accepted orders\n", c, r.accepted)
		ok = false
	} else {
		r.printf("one order confirmation per accepted order: %d\n", c)
	}
	return ok, nil
}

// enqueueAll enqueues ts concurrently on the shared client.
func (r *runner) enqueueAll(ctx context.Context, ts []*asynq.Task) error {
	_, errs := tasks.EnqueueMany(ctx, r.app.Client, ts, 0)
	var all []error
	for i, err := range errs {
		if err != nil {
			all = append(all, fmt.Errorf("enqueue %s: %w", ts[i].Type(), err))
		}
	}
	return errors.Join(all...)
}

// drain waits until no queue has pending, active, scheduled or retrying
// tasks, twice in a row (handlers enqueue follow-ups).
func (r *runner) drain(ctx context.Context) error {
	idle := 0
	for idle < 2 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		busy, err := r.busy()
		if err != nil {
			return err
		}
		if busy == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return nil
}

// busy counts unfinished tasks straight from asynq's keys: the
// Inspector's queue statistics sample memory use and cost far more.
func (r *runner) busy() (int, error) {
	ctx := context.Background()
	queues, err := r.app.Inspector.Queues()
	if err != nil {
		return 0, err
	}
	pipe := r.app.RDB.Pipeline()
	var cmds []*redis.IntCmd
	for _, q := range queues {
		prefix := "asynq:{" + q + "}:"
		cmds = append(cmds, pipe.LLen(ctx, prefix+"pending"), pipe.LLen(ctx, prefix+"active"),
			pipe.ZCard(ctx, prefix+"scheduled"), pipe.ZCard(ctx, prefix+"retry"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

func (r *runner) wait(ctx context.Context, info *asynq.TaskInfo) (*asynq.TaskInfo, error) {
	for {
		cur, err := r.app.Inspector.GetTaskInfo(info.Queue, info.ID)
		if err != nil {
			return nil, err
		}
		switch cur.State {
		case asynq.TaskStateCompleted:
			return cur, nil
		case asynq.TaskStateArchived:
			return nil, fmt.Errorf("task %s (%s) archived: %s", cur.ID, cur.Type, cur.LastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func templateOf(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return msg.Header.Get(mailer.HeaderTemplate), nil
}
