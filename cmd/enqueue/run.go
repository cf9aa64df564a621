package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/redisconn"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// common holds the flags every subcommand accepts.
type common struct {
	queue       string
	in          time.Duration
	at          string
	uniqueKey   string
	wait        bool
	waitTimeout time.Duration
	configPath  string
	jsonPath    string
	help        bool
}

// splitCommon takes the common flags out of args, wherever they appear, and
// returns the rest for the subcommand's own flag set.
func splitCommon(args []string) (common, []string, error) {
	c := common{waitTimeout: 10 * time.Minute}
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.queue, "queue", "", "queue (default: the type's)")
	fs.DurationVar(&c.in, "in", 0, "process after this delay")
	fs.StringVar(&c.at, "at", "", "process at this RFC 3339 time")
	fs.StringVar(&c.uniqueKey, "unique-key", "", "task id; a second enqueue with the same key is reported, not repeated")
	fs.BoolVar(&c.wait, "wait", false, "wait for completion and print the result")
	fs.DurationVar(&c.waitTimeout, "wait-timeout", c.waitTimeout, "give up waiting after this long (exit 3)")
	fs.StringVar(&c.configPath, "config", "", "configuration file")
	fs.StringVar(&c.jsonPath, "json", "", "payload file, - for stdin")
	fs.BoolVar(&c.help, "h", false, "help")
	fs.BoolVar(&c.help, "help", false, "help")

	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if !strings.HasPrefix(a, "-") || fs.Lookup(name) == nil {
			rest = append(rest, a)
			continue
		}
		part := []string{a}
		_, isBool := fs.Lookup(name).Value.(interface{ IsBoolFlag() bool })
		if !hasValue && !isBool {
			if i+1 >= len(args) {
				return c, nil, usagef("flag --%s needs a value", name)
			}
			i++
			part = append(part, args[i])
		}
		if err := fs.Parse(part); err != nil {
			return c, nil, usagef("%v", err)
		}
	}
	if c.in < 0 {
		return c, nil, usagef("--in: must not be negative")
	}
	if c.in > 0 && c.at != "" {
		return c, nil, usagef("--in and --at exclude each other")
	}
	if c.at != "" {
		if _, err := time.Parse(time.RFC3339, c.at); err != nil {
			return c, nil, usagef("--at: %q is not RFC 3339 (2025-06-01T00:00:00+02:00)", c.at)
		}
	}
	if c.waitTimeout <= 0 {
		return c, nil, usagef("--wait-timeout: must be positive")
	}
	return c, rest, nil
}

func (c common) options(retention time.Duration) []asynq.Option {
	var opts []asynq.Option
	if c.queue != "" {
		opts = append(opts, asynq.Queue(c.queue))
	}
	if c.in > 0 {
		opts = append(opts, asynq.ProcessIn(c.in))
	}
	if c.at != "" {
		t, _ := time.Parse(time.RFC3339, c.at)
		opts = append(opts, asynq.ProcessAt(t))
	}
	if c.uniqueKey != "" {
		opts = append(opts, asynq.TaskID(c.uniqueKey))
	}
	// Keep the result so --wait, the UI and later look-ups can read it.
	return append(opts, asynq.Retention(retention))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, rest, err := splitCommon(args)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return exitUsage
	}
	if c.help || len(rest) == 0 {
		printUsage(stderr)
		if c.help {
			return exitOK
		}
		return exitUsage
	}
	name, subArgs := rest[0], rest[1:]

	cfg, err := config.Load(c.configPath)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return exitUsage
	}

	if cmd, ok := opsCommands[name]; ok {
		if c.queue != "" {
			subArgs = append(subArgs, "--queues", c.queue)
		}
		return cmd(cfg, subArgs, stdout, stderr)
	}
	built, err := build(name, subArgs, c, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return exitUsage
	}
	if c.uniqueKey != "" && len(built.tasks) > 1 {
		fmt.Fprintln(stderr, "enqueue: --unique-key applies to one task; this command makes", len(built.tasks))
		return exitUsage
	}
	return enqueueAll(cfg, c, built, stdout, stderr)
}

// built is what a subcommand produced.
type built struct {
	tasks []*asynq.Task
	// summary, when set, is printed after enqueueing (replays).
	summary any
}

func build(name string, args []string, c common, stdin io.Reader) (built, error) {
	if sub, ok := subcommands[name]; ok {
		return sub.build(args)
	}
	if _, ok := tasks.Lookup(name); ok {
		if len(args) > 0 {
			return built{}, usagef("%s: unexpected arguments %v (give the payload with --json)", name, args)
		}
		if c.jsonPath == "" {
			return built{}, usagef("%s: give the payload with --json FILE or --json -", name)
		}
		data, err := readPayload(c.jsonPath, stdin)
		if err != nil {
			return built{}, usagef("%s: %v", name, err)
		}
		t, err := tasks.NewTaskFromJSON(name, data)
		if err != nil {
			return built{}, usageError{err} // the error names the type already
		}
		return built{tasks: []*asynq.Task{t}}, nil
	}
	return built{}, usagef("%q is neither a task type nor a subcommand; see enqueue -h", name)
}

func readPayload(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	// Read past the payload limit so the error can state the real size; stop
	// somewhere, so a runaway pipe cannot fill memory.
	const readCap = 64 << 20
	data, err := io.ReadAll(io.LimitReader(r, readCap+1))
	if err != nil {
		return nil, err
	}
	if len(data) > readCap {
		return nil, fmt.Errorf("payload is larger than %d bytes, above the limit of %d", readCap, tasks.MaxPayloadBytes)
	}
	return data, nil
}

// connect opens Redis and checks that it answers; on failure it reports and
// returns the exit code (usage for a bad URL, 3 when unreachable).
func connect(cfg *config.Config, stderr io.Writer) (redis.UniversalClient, int) {
	rdb, err := redisconn.Open(cfg.Redis.URL)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return nil, exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		fmt.Fprintf(stderr, "enqueue: redis %s unreachable: %v\n", redisconn.Redact(cfg.Redis.URL), err)
		return nil, exitRedis
	}
	return rdb, exitOK
}

func enqueueAll(cfg *config.Config, c common, b built, stdout, stderr io.Writer) int {
	rdb, code := connect(cfg, stderr)
	if code != exitOK {
		return code
	}
	defer func() { _ = rdb.Close() }()
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	opts := c.options(cfg.Retention.TaskResults)
	if _, served := cfg.Worker.Queues[c.queue]; c.queue != "" && !served {
		fmt.Fprintf(stderr, "warning: queue %q is not in worker.queues of this configuration: "+
			"no worker with it will run the task\n", c.queue)
	}

	infos, code := enqueueTasks(client, insp, b.tasks, opts, stdout, stderr)
	if b.summary != nil {
		_ = json.NewEncoder(stderr).Encode(b.summary)
	}
	if code != exitOK || !c.wait {
		return code
	}
	var status statusFunc
	if isTerminal(stderr) {
		status = importProgress(cfg, rdb)
	}
	return waitAll(insp, infos, c.waitTimeout, status, stdout, stderr)
}

// countingEnqueuer ticks the progress line after every enqueue.
type countingEnqueuer struct {
	c *asynq.Client
	p *progress
}

func (e countingEnqueuer) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := e.c.EnqueueContext(ctx, t, opts...)
	e.p.tick()
	return info, err
}

// statusFunc describes a running task in one line, or returns "".
type statusFunc func(info *asynq.TaskInfo) string

// importProgress reports a catalog import's rows and chunks while --wait
// blocks on it.
func importProgress(cfg *config.Config, rdb redis.UniversalClient) statusFunc {
	c := catalog.New(store.New(rdb, cfg.Redis.KeyPrefix, store.Lifetimes{}), catalog.Options{})
	return func(info *asynq.TaskInfo) string {
		if info.Type != tasks.TypeCatalogImport {
			return ""
		}
		var p tasks.CatalogImportPayload
		_ = json.Unmarshal(info.Payload, &p)
		runID := p.RunID
		if runID == "" {
			runID = info.ID
		}
		pr, err := c.Progress(context.Background(), runID)
		if err != nil {
			return ""
		}
		return pr.String()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// enqueueTasks enqueues one task directly, many concurrently on the shared
// client (tasks.EnqueueMany), and reports duplicates and failures per task.
func enqueueTasks(client *asynq.Client, insp *asynq.Inspector, ts []*asynq.Task, opts []asynq.Option,
	stdout, stderr io.Writer,
) ([]*asynq.TaskInfo, int) {
	progress := newProgress(stderr, len(ts))
	infos, errs := tasks.EnqueueMany(context.Background(), countingEnqueuer{client, progress}, ts, 0, opts...)
	progress.done()

	code := exitOK
	var kept []*asynq.TaskInfo
	for i, err := range errs {
		switch {
		case err == nil:
			if len(ts) == 1 {
				fmt.Fprintf(stderr, "enqueued %s id=%s queue=%s\n", ts[i].Type(), infos[i].ID, infos[i].Queue)
			}
			kept = append(kept, infos[i])
		case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
			info, blocked := existing(insp, ts[i], opts)
			if blocked {
				fmt.Fprintf(stderr, "enqueue: blocked by archived task %s (%s); re-run or delete it first (enqueue dead ...)\n",
					info.ID, info.LastErr)
				code = exitArchived
				continue
			}
			fmt.Fprintf(stderr, "already enqueued: %s\n", describe(info, ts[i]))
			if info != nil {
				kept = append(kept, info)
			}
		default:
			fmt.Fprintf(stderr, "enqueue %s: %v\n", ts[i].Type(), err)
			if code == exitOK {
				code = exitRedis
			}
		}
	}
	if len(ts) > 1 {
		fmt.Fprintf(stderr, "enqueued %d of %d tasks\n", len(kept), len(ts))
	}
	_ = stdout
	return kept, code
}

func existing(insp *asynq.Inspector, t *asynq.Task, opts []asynq.Option) (*asynq.TaskInfo, bool) {
	id, queue := "", ""
	for _, o := range opts {
		switch o.Type() {
		case asynq.TaskIDOpt:
			id = o.Value().(string)
		case asynq.QueueOpt:
			queue = o.Value().(string)
		}
	}
	if queue == "" {
		if spec, ok := tasks.Lookup(t.Type()); ok {
			queue = spec.Queue
		}
	}
	if id == "" {
		return nil, false
	}
	info, err := insp.GetTaskInfo(queue, id)
	if err != nil {
		return nil, false
	}
	return info, info.State == asynq.TaskStateArchived
}

func describe(info *asynq.TaskInfo, t *asynq.Task) string {
	if info == nil {
		return t.Type()
	}
	return fmt.Sprintf("task %s is %s in queue %s", info.ID, info.State, info.Queue)
}

// waitAll polls until every task has completed or been archived, printing
// each result as one JSON line in enqueue order.
func waitAll(insp *asynq.Inspector, infos []*asynq.TaskInfo, timeout time.Duration, status statusFunc,
	stdout, stderr io.Writer,
) int {
	deadline := time.Now().Add(timeout)
	code := exitOK
	var lastStatus time.Time
	for _, info := range infos {
		shown := false
		for {
			cur, err := insp.GetTaskInfo(info.Queue, info.ID)
			switch {
			case err != nil && !errors.Is(err, asynq.ErrTaskNotFound):
				fmt.Fprintf(stderr, "enqueue: wait for %s: %v\n", info.ID, err)
				return exitRedis
			case err != nil:
				fmt.Fprintf(stderr, "enqueue: task %s vanished before it could be read (was it deleted, or is retention 0?)\n", info.ID)
				return exitRedis
			}
			if status != nil && time.Since(lastStatus) > 500*time.Millisecond {
				if line := status(cur); line != "" {
					fmt.Fprintf(stderr, "\r\033[K%s", line)
					shown = true
				}
				lastStatus = time.Now()
			}
			if cur.State == asynq.TaskStateCompleted || cur.State == asynq.TaskStateArchived {
				if shown {
					fmt.Fprintln(stderr)
				}
			}
			if cur.State == asynq.TaskStateCompleted {
				printResult(stdout, cur.Result)
				break
			}
			if cur.State == asynq.TaskStateArchived {
				fmt.Fprintf(stderr, "task %s (%s) archived: %s\n", cur.ID, cur.Type, cur.LastErr)
				code = exitArchived
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(stderr, "enqueue: --wait timed out after %v: task %s is %s\n", timeout, cur.ID, cur.State)
				return exitRedis
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return code
}

func printResult(w io.Writer, result []byte) {
	if len(result) == 0 {
		fmt.Fprintln(w, "{}")
		return
	}
	fmt.Fprintln(w, strings.TrimSpace(string(result)))
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: enqueue TYPE --json FILE|-     enqueue any task type from its JSON payload
       enqueue SUBCOMMAND [flags]       build the payload from flags

common flags (anywhere): --queue Q  --in DURATION  --at RFC3339  --unique-key KEY
                         --wait  --wait-timeout DURATION  --config FILE

exit codes: 0 done, 1 archived or blocked by an archived task, 2 usage or validation
            error (nothing enqueued), 3 Redis unreachable or --wait timed out

task types:
`)
	for _, s := range tasks.Specs() {
		fmt.Fprintf(w, "  %-22s queue %-8s retries %-3d timeout %v\n", s.Type, s.Queue, s.MaxRetry, s.Timeout)
	}
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(subcommands)+len(opsCommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-22s %s\n", n, subcommands[n].usage)
	}
	for n, u := range opsUsage {
		fmt.Fprintf(w, "  %-22s %s\n", n, u)
	}
}
