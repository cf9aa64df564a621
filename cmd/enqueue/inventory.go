package main

import (
	"flag"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

func init() {
	subcommands["inventory"] = subcommand{
		usage: "inventory set --sku SKU --on-hand N [--version N] [--operation-id ID]\n" +
			"  inventory adjust --sku SKU --delta N --reason delivery|damage|return|write_off|correction --operation-id ID\n" +
			"  inventory reserve --sku SKU --quantity N --operation-id ID\n" +
			"  inventory commit|release --operation-id ID",
		build: func(args []string) (built, error) { return one(inventoryCommand(args)) },
	}
}

// inventoryCommand builds one inventory task from `inventory VERB flags`.
// A set's version defaults to the current Unix ms.
func inventoryCommand(args []string) (*asynq.Task, error) {
	if len(args) == 0 {
		return nil, usagef("inventory: give set, adjust, reserve, commit or release")
	}
	verb := args[0]
	fs := flag.NewFlagSet("inventory "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sku := fs.String("sku", "", "SKU")
	op := fs.String("operation-id", "", "operation id (order line, delivery note, ...)")
	var n, version int64
	var reason string
	switch verb {
	case "set":
		fs.Int64Var(&n, "on-hand", -1, "absolute on-hand count")
		fs.Int64Var(&version, "version", 0, "version; default: now in Unix ms")
	case "adjust":
		fs.Int64Var(&n, "delta", 0, "change of the on-hand count, negative to remove")
		fs.StringVar(&reason, "reason", "", "delivery, damage, return, write_off or correction")
	case "reserve":
		fs.Int64Var(&n, "quantity", 0, "units to reserve")
	case "commit", "release":
	default:
		return nil, usagef("inventory: %q is not set, adjust, reserve, commit or release", verb)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, usagef("inventory %s: %v", verb, err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("inventory %s: unexpected arguments %v", verb, fs.Args())
	}

	var t *asynq.Task
	var err error
	switch verb {
	case "set":
		if version == 0 {
			version = time.Now().UnixMilli()
		}
		t, err = tasks.NewInventorySetTask(tasks.InventorySetPayload{SKU: *sku, OnHand: n, Version: version, OperationID: *op})
	case "adjust":
		t, err = tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{SKU: *sku, Delta: n, Reason: reason, OperationID: *op})
	case "reserve":
		t, err = tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{SKU: *sku, Quantity: n, OperationID: *op})
	case "commit":
		t, err = tasks.NewInventoryCommitTask(tasks.InventoryOperationPayload{OperationID: *op})
	case "release":
		t, err = tasks.NewInventoryReleaseTask(tasks.InventoryOperationPayload{OperationID: *op})
	}
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}
