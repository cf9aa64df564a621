package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process started for the benchmark.
type RedisServer struct {
	URL  string
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// StartRedis starts redis-server on a free loopback port with persistence
// off, so that INFO deltas count only the benchmark's commands.
func StartRedis(ctx context.Context) (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shopq-bench-redis-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}
	cmd := exec.Command(bin, args...) //nolint:gosec // redis-server from PATH with fixed arguments
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &RedisServer{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, dir: dir}
	s.URL = "redis://" + s.Addr + "/0"
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is the server's process id.
func (s *RedisServer) PID() int { return s.cmd.Process.Pid }

// Stop kills the server this benchmark started (by its PID) and removes its
// directory.
func (s *RedisServer) Stop() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Snapshot is the part of INFO the benchmark compares: CPU seconds and
// calls per command.
type Snapshot struct {
	At    time.Time
	CPU   float64 // used_cpu_sys + used_cpu_user, seconds
	Calls map[string]int64
}

// TakeSnapshot reads INFO cpu and commandstats.
func TakeSnapshot(ctx context.Context, rdb redis.UniversalClient) (Snapshot, error) {
	raw, err := rdb.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return Snapshot{}, fmt.Errorf("info: %w", err)
	}
	s := Snapshot{At: time.Now(), Calls: map[string]int64{}}
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			s.CPU += f
		case strings.HasPrefix(k, "cmdstat_"):
			for _, f := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(f, "calls="); ok {
					c, _ := strconv.ParseInt(n, 10, 64)
					s.Calls[strings.TrimPrefix(k, "cmdstat_")] = c
				}
			}
		}
	}
	return s, nil
}

// Delta is the difference between two snapshots, not counting the INFO
// calls that took them.
type Delta struct {
	Elapsed  time.Duration
	CPU      float64
	Commands int64
	Calls    map[string]int64
}

// Sub returns s - before.
func (s Snapshot) Sub(before Snapshot) Delta {
	d := Delta{Elapsed: s.At.Sub(before.At), CPU: s.CPU - before.CPU, Calls: map[string]int64{}}
	for k, v := range s.Calls {
		if k == "info" {
			continue
		}
		if n := v - before.Calls[k]; n > 0 {
			d.Calls[k] = n
			d.Commands += n
		}
	}
	return d
}

// Top lists the n most called commands of d, "name=calls", most first.
func (d Delta) Top(n int) string {
	names := make([]string, 0, len(d.Calls))
	for k := range d.Calls {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return d.Calls[names[i]] > d.Calls[names[j]] })
	var b strings.Builder
	for i, k := range names {
		if i == n {
			break
		}
		fmt.Fprintf(&b, " %s=%d", k, d.Calls[k])
	}
	return strings.TrimSpace(b.String())
}

// mustSnapshot is TakeSnapshot for code that must not fail on INFO errors.
func mustSnapshot(ctx context.Context, rdb redis.UniversalClient) Snapshot {
	s, err := TakeSnapshot(ctx, rdb)
	if err != nil {
		return Snapshot{At: time.Now(), Calls: map[string]int64{}}
	}
	return s
}

var errTimeout = errors.New("timed out")
