package main

import (
	"io"

	"github.com/shopq/shopq/config"
)

// subcommand builds tasks from its own flags.
type subcommand struct {
	usage string
	build func(args []string) (built, error)
}

// subcommands are the friendlier forms, by name.
var subcommands = map[string]subcommand{}

// opsCommands act on queues rather than enqueue (dead letters).
var opsCommands = map[string]func(cfg *config.Config, args []string, stdout, stderr io.Writer) int{}

var opsUsage = map[string]string{}
