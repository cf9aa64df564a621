// Command enqueue puts shopq tasks on their queues.
//
//	enqueue TYPE --json FILE|-            any type of the wire contract
//	enqueue SUBCOMMAND [flags]            friendlier forms (see -h)
//
// Common flags, accepted anywhere: --queue, --in DURATION, --at RFC3339,
// --unique-key KEY, --wait, --wait-timeout DURATION, --config FILE.
//
// Exit codes: 0 enqueued (with --wait: completed), 1 archived (the reason on
// stderr) or blocked by an archived task of the same key, 2 usage or
// validation error (nothing enqueued), 3 Redis unreachable or --wait timed
// out.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/logging"
)

func main() {
	// go-redis would print its pool's dial errors; the CLI reports them itself.
	redis.SetLogger(logging.RedisLogger(slog.New(slog.DiscardHandler)))
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK       = 0
	exitArchived = 1
	exitUsage    = 2
	exitRedis    = 3
)

// usageError is a bad flag or payload: nothing was enqueued.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
