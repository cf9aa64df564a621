package faults

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
)

// prefix is the data key prefix of every worker the suite starts.
const prefix = "shopq:"

var (
	buildOnce sync.Once
	binDir    string
	errBuild  error
)

// TestMain removes the binaries built for the suite.
func TestMain(m *testing.M) {
	// Redis is stopped on purpose; keep go-redis's dial errors out of the
	// test output.
	redis.SetLogger(quietLogger{})
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// binary builds ./cmd/NAME once per test process and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, errBuild = os.MkdirTemp("", "shopq-faults-")
		if errBuild != nil {
			return
		}
		for _, n := range []string{"worker", "enqueue"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, n), "../../cmd/"+n).CombinedOutput()
			if err != nil {
				errBuild = fmt.Errorf("go build %s: %w\n%s", n, err, out)
				return
			}
		}
	})
	require.NoError(t, errBuild)
	return filepath.Join(binDir, name)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// redisServer is a redis-server process of the test's own, with an
// append-only file fsynced on every write.
type redisServer struct {
	t        *testing.T
	Port     int
	Dir      string
	Password string
	cmd      *exec.Cmd
	log      *bytes.Buffer
}

// startRedis starts redis-server on a free loopback port; the test is
// skipped when redis-server is not installed.
func startRedis(t *testing.T, password string) *redisServer {
	t.Helper()
	if testing.Short() {
		t.Skip("fault suite: starts redis-server and the worker binary (not in -short)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("needs a real Redis server: redis-server is not installed (the fault suite starts its own)")
	}
	r := &redisServer{t: t, Port: freePort(t), Dir: t.TempDir(), Password: password}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// URL is the redis:// URL of the server (with its password, if any).
func (r *redisServer) URL() string {
	u := url.URL{Scheme: "redis", Host: fmt.Sprintf("127.0.0.1:%d", r.Port), Path: "/0"}
	if r.Password != "" {
		u.User = url.UserPassword("", r.Password)
	}
	return u.String()
}

// Start starts (or restarts) the server on its port and directory.
func (r *redisServer) Start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.Dir,
		"--maxmemory-policy", "noeviction"}
	if r.Password != "" {
		args = append(args, "--requirepass", r.Password)
	}
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command("redis-server", args...)
	r.cmd.Stdout = r.log
	r.cmd.Stderr = r.log
	require.NoError(r.t, r.cmd.Start())
	c := r.Client()
	defer func() { _ = c.Close() }()
	require.Eventually(r.t, func() bool {
		return c.Ping(context.Background()).Err() == nil
	}, 20*time.Second, 20*time.Millisecond, "redis-server did not answer")
}

// Shutdown stops the server with SHUTDOWN (the AOF is flushed) and waits
// for the process to end.
func (r *redisServer) Shutdown() {
	r.t.Helper()
	c := r.Client()
	_ = c.Shutdown(context.Background()).Err() // the connection drops: no reply
	_ = c.Close()
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// Kill ends the server by its PID (test cleanup).
func (r *redisServer) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Client returns a new client on the server; the caller closes it.
func (r *redisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port), Password: r.Password})
}

// connOpt is the asynq connection option for the server.
func (r *redisServer) connOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port), Password: r.Password}
}

// env is one test's world: a Redis server, a client, a store, an inspector.
type env struct {
	t     *testing.T
	Redis *redisServer
	RDB   *redis.Client
	Store *store.Store
	Insp  *asynq.Inspector
	Cli   *asynq.Client
	Dir   string
}

func newEnv(t *testing.T, password string) *env {
	t.Helper()
	r := startRedis(t, password)
	e := &env{t: t, Redis: r, RDB: r.Client(), Insp: asynq.NewInspector(r.connOpt()),
		Cli: asynq.NewClient(r.connOpt()), Dir: t.TempDir()}
	e.Store = store.New(e.RDB, prefix, store.Lifetimes{})
	t.Cleanup(func() {
		_ = e.Cli.Close()
		_ = e.Insp.Close()
		_ = e.RDB.Close()
	})
	return e
}

// queues are the queues of the default configuration.
var queues = []string{"critical", "default", "low"}

// counts sums asynq's per-state counts over every queue.
type counts struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int
	// Later counts scheduled tasks due in more than five minutes.
	Later int
}

func (c counts) open() int { return c.Pending + c.Active + c.Scheduled + c.Retry }

func (e *env) counts() (counts, error) {
	var c counts
	for _, q := range queues {
		info, err := e.Insp.GetQueueInfo(q)
		if err != nil {
			if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found") {
				continue
			}
			return c, err
		}
		c.Pending += info.Pending
		c.Active += info.Active
		if info.Scheduled > 0 {
			// Tasks scheduled far ahead (a promotion's end in a month) are
			// not open work; those due within minutes are.
			sched, err := e.Insp.ListScheduledTasks(q, asynq.PageSize(1000))
			if err != nil {
				return c, err
			}
			for _, s := range sched {
				if s.NextProcessAt.Before(time.Now().Add(5 * time.Minute)) {
					c.Scheduled++
				} else {
					c.Later++
				}
			}
		}
		c.Retry += info.Retry
		c.Archived += info.Archived
		c.Completed += info.Completed
	}
	return c, nil
}

// waitIdle waits until no task is pending, active, scheduled or waiting to
// be retried, and returns how long that took.
func (e *env) waitIdle(within time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	var last counts
	for time.Since(start) < within {
		c, err := e.counts()
		if err == nil && c.open() == 0 {
			return time.Since(start)
		}
		last = c
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("tasks still open after %s: %+v", within, last)
	return 0
}

// workerProc is the worker binary running as a subprocess.
type workerProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error
}

// writeConfig writes a worker configuration file into dir. extra is YAML
// appended at the top level; when it has a mail block, that replaces the
// default one (file transport into the test's outbox).
func (e *env) writeConfig(name, extra string) string {
	e.t.Helper()
	mail := fmt.Sprintf("mail:\n  transport: file\n  outbox_dir: %q\n", filepath.Join(e.Dir, "outbox"))
	if strings.Contains("\n"+extra, "\nmail:") {
		mail = ""
	}
	cfg := fmt.Sprintf(`redis:
  url: %q
  key_prefix: %q
log:
  level: info
  format: json
scheduler:
  enabled: false
inventory:
  low_stock_threshold: 0
%s%s`, e.Redis.URL(), prefix, mail, extra)
	path := filepath.Join(e.Dir, name)
	require.NoError(e.t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// startWorker runs the worker binary with the configuration file; env
// entries are added to the process environment.
func (e *env) startWorker(cfgPath string, environ ...string) *workerProc {
	e.t.Helper()
	w := &workerProc{t: e.t, out: &testenv.Buffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(binary(e.t, "worker"), "--config", cfgPath)
	w.cmd.Env = append(os.Environ(), environ...)
	w.cmd.Stdout = w.out
	w.cmd.Stderr = w.out
	w.cmd.Dir = e.Dir
	require.NoError(e.t, w.cmd.Start())
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		if e.t.Failed() {
			e.t.Logf("worker output:\n%s", tail(w.out.String(), 6000))
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// waitStarted waits for the worker's "worker started" log line.
func (w *workerProc) waitStarted() {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		select {
		case <-w.done:
			w.t.Fatalf("worker exited: %v\n%s", w.err, w.out.String())
		default:
		}
		return strings.Contains(w.out.String(), `"worker started"`)
	}, 60*time.Second, 20*time.Millisecond, "worker did not start")
}

// signal sends sig to the worker.
func (w *workerProc) signal(sig syscall.Signal) {
	w.t.Helper()
	require.NoError(w.t, w.cmd.Process.Signal(sig))
}

// wait waits for the worker to exit and returns its exit code.
func (w *workerProc) wait(within time.Duration) int {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(within):
		w.t.Fatalf("worker still running %s after the signal", within)
	}
	return w.cmd.ProcessState.ExitCode()
}

// running reports whether the process is still up.
func (w *workerProc) running() bool {
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// httpStatus returns the status code of GET url, or 0 when it fails.
func httpStatus(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// enqueue enqueues task and fails the test on error.
func (e *env) enqueue(task *asynq.Task, err error) *asynq.TaskInfo {
	e.t.Helper()
	require.NoError(e.t, err)
	info, err := e.Cli.Enqueue(task)
	require.NoError(e.t, err)
	return info
}
