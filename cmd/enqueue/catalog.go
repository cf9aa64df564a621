package main

import (
	"flag"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

func init() {
	subcommands["catalog-import"] = subcommand{
		usage: "catalog-import --source PATH|URL --format shopify-csv|merchant-tsv|merchant-xml|jsonl " +
			"--supplier NAME [--full] [--currency EUR] [--force] [--run-id ID]",
		build: func(args []string) (built, error) { return one(catalogImportCommand(args)) },
	}
}

// catalogImportCommand builds a catalog:import task from flags. A local
// path is made absolute, since the worker resolves it in its own working
// directory. With --wait the run's report is printed once the last chunk
// is applied.
func catalogImportCommand(args []string) (*asynq.Task, error) {
	fs := flag.NewFlagSet("catalog-import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	source := fs.String("source", "", "feed: a local path, file:// URL or http(s) URL")
	format := fs.String("format", "", "feed format: "+strings.Join(tasks.FeedFormats, ", "))
	supplier := fs.String("supplier", "", "supplier the feed belongs to")
	full := fs.Bool("full", false, "full refresh: deactivate the supplier's products missing from the feed")
	currency := fs.String("currency", "", "currency of prices without one (Shopify CSV); default: the worker's")
	force := fs.Bool("force", false, "import even when the feed server says it is unchanged")
	runID := fs.String("run-id", "", "run id; default: the task id")
	if err := fs.Parse(args); err != nil {
		return nil, usagef("catalog-import: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("catalog-import: unexpected arguments %v", fs.Args())
	}

	src := *source
	if u, err := url.Parse(src); src != "" && (err != nil || u.Scheme == "" || len(u.Scheme) == 1) {
		if abs, err := filepath.Abs(src); err == nil {
			src = abs
		}
	}
	t, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
		Source: src, Format: *format, Supplier: *supplier, Full: *full,
		Currency: strings.ToUpper(*currency), Force: *force, RunID: *runID,
	})
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}
