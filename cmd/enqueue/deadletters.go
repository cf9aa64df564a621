package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/deadletter"
	"github.com/shopq/shopq/internal/redisconn"
)

const deadUsage = `dead list   [--queues Q1,Q2] [--type TYPE|FAMILY:] [--limit N] [--summary]
  dead run    [--queues Q1,Q2] (--id ID | --type TYPE|FAMILY: | --all)
  dead delete [--queues Q1,Q2] (--id ID | --type TYPE|FAMILY: | --all)
  dead purge  [--queues Q1,Q2] [--max-size N] [--max-age DURATION]
  dead check  [--warn-ratio 0.8]`

func init() {
	opsCommands["dead"] = runDead
	opsUsage["dead"] = "list, re-run or delete archived tasks (dead letters); see: enqueue dead help"
}

// runDead is the `enqueue dead ...` entry point.
func runDead(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	rdb, err := redisconn.Open(cfg.Redis.URL)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue dead:", err)
		return exitUsage
	}
	defer func() { _ = rdb.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		fmt.Fprintf(stderr, "enqueue dead: redis %s unreachable: %v\n", redisconn.Redact(cfg.Redis.URL), err)
		return exitRedis
	}

	err = deadLetterCommand(args, asynq.NewInspectorFromRedisClient(rdb), stdout)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "enqueue dead:", err)
		fmt.Fprintln(stderr, "usage:\n  "+deadUsage)
		return exitUsage
	case errors.Is(err, deadletter.ErrNotArchived):
		fmt.Fprintln(stderr, "enqueue dead:", err)
		return exitArchived
	default:
		fmt.Fprintln(stderr, "enqueue dead:", err)
		return exitRedis
	}
}

// deadLetterCommand runs `dead list|run|delete|check` with args after "dead".
// --queue is accepted as a synonym of --queues when called directly.
func deadLetterCommand(args []string, insp *asynq.Inspector, out io.Writer) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(out, "usage: enqueue "+deadUsage)
		return nil
	}
	if len(args) == 0 {
		return usagef("want a subcommand: list, run, delete, purge or check (see enqueue dead help)")
	}
	verb, args := args[0], args[1:]

	fs := flag.NewFlagSet("dead "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var queues, typ, id string
	var limit int
	var all, summary bool
	var warnRatio float64
	var limits deadletter.Limits
	fs.StringVar(&queues, "queues", "", "comma-separated queues (default: all)")
	fs.StringVar(&queues, "queue", "", "same as --queues")
	fs.StringVar(&typ, "type", "", "task type, or a family ending in ':' (mail:)")
	fs.StringVar(&id, "id", "", "one task id")
	fs.IntVar(&limit, "limit", 100, "list at most this many tasks (0: all)")
	fs.BoolVar(&all, "all", false, "every archived task of the queues")
	fs.BoolVar(&summary, "summary", false, "list counts by queue and type instead of tasks")
	fs.Float64Var(&warnRatio, "warn-ratio", deadletter.DefaultWarnRatio, "share of the 10,000-task limit to warn at")
	fs.IntVar(&limits.MaxSize, "max-size", 0, "purge: keep at most this many archived tasks per queue")
	fs.DurationVar(&limits.MaxAge, "max-age", 0, "purge: delete archived tasks that failed longer ago than this")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	f := deadletter.Filter{Type: typ, Limit: limit}
	for _, q := range strings.Split(queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			f.Queues = append(f.Queues, q)
		}
	}

	switch verb {
	case "list":
		if summary {
			f.Limit = 0
		}
		return deadList(insp, f, summary, out)
	case "run", "delete":
		return deadAct(insp, verb, f, id, all, out)
	case "purge":
		return deadPurge(insp, f.Queues, limits, out)
	case "check":
		return deadCheck(insp, warnRatio, out)
	default:
		return usagef("unknown subcommand %q: want list, run, delete, purge or check", verb)
	}
}

func deadList(insp *asynq.Inspector, f deadletter.Filter, summary bool, out io.Writer) error {
	tasks, err := deadletter.List(insp, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if summary {
		fmt.Fprintln(tw, "QUEUE\tTYPE\tCOUNT\tLAST FAILED\tLAST ERROR")
		for _, g := range deadletter.Summarize(tasks) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.Queue, g.Type, g.Count, stamp(g.FailedAt), oneLine(g.LastErr))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "QUEUE\tTYPE\tID\tFAILED\tRETRIED\tLAST ERROR")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", t.Queue, t.Type, t.ID, stamp(t.FailedAt), t.Retried, t.MaxRetry,
			oneLine(t.LastErr))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.Limit > 0 && len(tasks) == f.Limit {
		fmt.Fprintf(out, "(first %d shown; --limit 0 for all, --summary for counts)\n", f.Limit)
	}
	return nil
}

func deadAct(insp *asynq.Inspector, verb string, f deadletter.Filter, id string, all bool, out io.Writer) error {
	chosen := 0
	for _, set := range []bool{id != "", f.Type != "", all} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return usagef("dead %s: give exactly one of --id, --type, --all", verb)
	}
	done := map[string]string{"run": "re-queued", "delete": "deleted"}[verb]

	if id != "" {
		one := deadletter.Run
		if verb == "delete" {
			one = deadletter.Delete
		}
		q, err := one(insp, f, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s in %s\n", done, id, q)
		return nil
	}

	many := deadletter.RunMatching
	if verb == "delete" {
		many = deadletter.DeleteMatching
	}
	n, err := many(insp, f)
	fmt.Fprintf(out, "%s %d archived tasks\n", done, n)
	return err
}

func deadPurge(insp *asynq.Inspector, queues []string, limits deadletter.Limits, out io.Writer) error {
	if limits.MaxSize <= 0 && limits.MaxAge <= 0 {
		return usagef("dead purge: give --max-size, --max-age or both")
	}
	deleted, err := deadletter.Purge(insp, queues, limits, time.Now())
	total := 0
	for q, n := range deleted {
		fmt.Fprintf(out, "%s: deleted %d archived tasks\n", q, n)
		total += n
	}
	fmt.Fprintf(out, "deleted %d archived tasks in all\n", total)
	return err
}

func deadCheck(insp *asynq.Inspector, warnRatio float64, out io.Writer) error {
	fills, err := deadletter.NewChecker(insp, deadletter.CheckerOptions{WarnRatio: warnRatio}).Check()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tARCHIVED\tOF LIMIT\t")
	for _, f := range fills {
		warn := ""
		if f.Near {
			warn = "near the limit: the oldest will be dropped"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%s\n", f.Queue, f.Archived, f.Ratio*100, warn)
	}
	if ferr := tw.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine keeps a table row on one line and readable.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return s
}
