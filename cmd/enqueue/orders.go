package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/tasks"
)

const replayUsage = "orders-replay --file FILE [--seed-stock N] [--seed-version N] [--prefix P] " +
	"[--dry-run] [--seed-timeout 10m]"

func init() {
	subcommands["order"] = subcommand{
		usage: "order place --order-id ID --email ADDR [--name NAME] [--currency GBP] " +
			"--line LINE_ID:SKU:QTY:UNIT_AMOUNT [--line ...]\n" +
			"  order cancel --order-id ID [--reason TEXT]",
		build: func(args []string) (built, error) { return one(orderCommand(args)) },
	}
	opsCommands["orders-replay"] = runReplay
	opsUsage["orders-replay"] = "replay an online-retail CSV file as orders: " + replayUsage
}

// lineFlags collects repeated --line values.
type lineFlags []string

func (l *lineFlags) String() string     { return strings.Join(*l, " ") }
func (l *lineFlags) Set(v string) error { *l = append(*l, v); return nil }

// orderCommand builds orders:place or orders:cancel from flags. Unit
// amounts are in minor units ("850" for 8.50 GBP).
func orderCommand(args []string) (*asynq.Task, error) {
	if len(args) == 0 {
		return nil, usagef("order: give place or cancel")
	}
	verb := args[0]
	fs := flag.NewFlagSet("order "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("order-id", "", "order id")
	switch verb {
	case "place":
		email := fs.String("email", "", "customer address")
		name := fs.String("name", "", "customer name")
		currency := fs.String("currency", "GBP", "ISO 4217 code of every line")
		var lines lineFlags
		fs.Var(&lines, "line", "LINE_ID:SKU:QTY:UNIT_AMOUNT; repeat per line")
		if err := fs.Parse(args[1:]); err != nil {
			return nil, usagef("order place: %v", err)
		}
		p := tasks.OrderPlacePayload{
			OrderID: *id, Email: *email, Name: *name, PlacedAt: time.Now().UTC().Format(time.RFC3339),
		}
		for _, v := range lines {
			l, err := parseOrderLine(v, strings.ToUpper(*currency))
			if err != nil {
				return nil, usagef("order place: --line %q: %v", v, err)
			}
			p.Lines = append(p.Lines, l)
		}
		t, err := tasks.NewOrderPlaceTask(p)
		if err != nil {
			return nil, usageError{err}
		}
		return t, nil
	case "cancel":
		reason := fs.String("reason", "", "why, for operators")
		if err := fs.Parse(args[1:]); err != nil {
			return nil, usagef("order cancel: %v", err)
		}
		t, err := tasks.NewOrderCancelTask(tasks.OrderCancelPayload{OrderID: *id, Reason: *reason})
		if err != nil {
			return nil, usageError{err}
		}
		return t, nil
	}
	return nil, usagef("order: %q is not place or cancel", verb)
}

// parseOrderLine reads LINE_ID:SKU:QTY:UNIT_AMOUNT; the SKU may hold ':'.
func parseOrderLine(v, currency string) (tasks.OrderLine, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 4 {
		return tasks.OrderLine{}, errors.New("want LINE_ID:SKU:QTY:UNIT_AMOUNT")
	}
	n := len(parts)
	qty, err := strconv.ParseInt(parts[n-2], 10, 64)
	if err != nil {
		return tasks.OrderLine{}, fmt.Errorf("quantity %q is not an integer", parts[n-2])
	}
	amount, err := parseMoney(parts[n-1], currency)
	if err != nil {
		return tasks.OrderLine{}, fmt.Errorf("unit amount: %w", err)
	}
	return tasks.OrderLine{
		LineID: parts[0], SKU: strings.Join(parts[1:n-2], ":"), Quantity: qty, UnitAmount: amount, Currency: currency,
	}, nil
}

// replayFlags are the flags of orders-replay besides the plan's options.
type replayFlags struct {
	dryRun      bool
	seedTimeout time.Duration
}

// replayPlan reads the flags of orders-replay and plans the replay of its
// file: the tasks to enqueue and the summary.
func replayPlan(args []string) (orders.Plan, replayFlags, error) {
	fs := flag.NewFlagSet("orders-replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "online-retail CSV file")
	var opts orders.ReplayOptions
	var rf replayFlags
	fs.Int64Var(&opts.SeedStock, "seed-stock", 0, "first set every SKU of the file to this on-hand count")
	fs.Int64Var(&opts.SeedVersion, "seed-version", 1, "version of the seeding sets")
	fs.StringVar(&opts.Prefix, "prefix", "", "prefix of order and operation ids, to replay a file again as new orders")
	fs.BoolVar(&rf.dryRun, "dry-run", false, "print the summary, enqueue nothing")
	fs.DurationVar(&rf.seedTimeout, "seed-timeout", 10*time.Minute, "how long to wait for the seeding to finish")
	if err := fs.Parse(args); err != nil {
		return orders.Plan{}, rf, usagef("orders-replay: %v", err)
	}
	if *file == "" || fs.NArg() > 0 {
		return orders.Plan{}, rf, usagef("orders-replay: usage: %s", replayUsage)
	}
	f, err := os.Open(*file)
	if err != nil {
		return orders.Plan{}, rf, usagef("orders-replay: %v", err)
	}
	defer func() { _ = f.Close() }()
	plan, err := orders.PlanReplay(f, opts)
	if err != nil {
		return orders.Plan{}, rf, usagef("orders-replay: %v", err)
	}
	return plan, rf, nil
}

// runReplay is `enqueue orders-replay`: it enqueues the seeding sets, waits
// until they have run (an order must not reserve a SKU not yet seeded),
// then enqueues the orders, cancellations, returns and write-offs, and
// prints the summary as JSON on stdout.
func runReplay(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	plan, rf, err := replayPlan(args)
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return exitUsage
	}
	printSummary := func() { _ = json.NewEncoder(stdout).Encode(plan.Summary) }
	if rf.dryRun {
		printSummary()
		return exitOK
	}

	rdb, code := connect(cfg, stderr)
	if code != exitOK {
		return code
	}
	defer func() { _ = rdb.Close() }()
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	retention := cfg.Retention.TaskResults
	if retention <= 0 {
		retention = time.Hour // the seed wait reads the completed sets
	}
	opts := []asynq.Option{asynq.Retention(retention)}

	if len(plan.Seed) > 0 {
		fmt.Fprintf(stderr, "seeding %d SKUs\n", len(plan.Seed))
		infos, code := enqueueTasks(client, insp, plan.Seed, opts, stdout, stderr)
		if code != exitOK {
			return code
		}
		if code := waitAll(insp, infos, rf.seedTimeout, nil, io.Discard, stderr); code != exitOK {
			return code
		}
	}
	_, code = enqueueTasks(client, insp, plan.Tasks, opts, stdout, stderr)
	printSummary()
	return code
}
