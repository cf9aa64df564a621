// Package testenv gives tests the real services they talk to: a Redis
// database of their own and a mailpit SMTP server.
//
// Redis: TEST_REDIS_URL (default redis://127.0.0.1:6379). Each test process
// claims one of databases 1-15 with a lock key (kept in database 0, which
// tests never flush), flushes it, and flushes it again when the package's
// tests end (call Main from TestMain). When no Redis
// answers, the process falls back to an embedded miniredis and says so
// loudly; tests that need a real server process call RequireRealRedis. Set
// SHOPQ_TEST_REQUIRE_REDIS=1 (CI does) to fail instead of falling back.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopq/shopq/internal/embedredis"
)

const (
	lockKey  = "shopq-test:db-lock"
	lockTTL  = 90 * time.Second
	firstDB  = 1
	lastDB   = 15
	claimFor = 5 * time.Minute
)

type redisEnv struct {
	url      string // base URL of the chosen database
	addr     string
	db       int
	embedded bool
	mini     *embedredis.Server
	token    string
	stop     chan struct{}
	err      error
}

var (
	envOnce sync.Once
	env     redisEnv
)

// BaseURL returns the Redis server tests use, without a database.
func BaseURL() string {
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379"
}

func setup() {
	base := BaseURL()
	u, err := url.Parse(base)
	if err != nil {
		env.err = fmt.Errorf("TEST_REDIS_URL: %w", err)
		return
	}
	opts := &redis.Options{Addr: u.Host, DialTimeout: time.Second}
	if p, ok := u.User.Password(); ok {
		opts.Password = p
	}
	probe := redis.NewClient(opts)
	defer func() { _ = probe.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err != nil {
		if os.Getenv("SHOPQ_TEST_REQUIRE_REDIS") == "1" {
			env.err = fmt.Errorf("no Redis at %s and SHOPQ_TEST_REQUIRE_REDIS=1: %w", u.Host, err)
			return
		}
		startEmbedded()
		return
	}
	env.addr = u.Host
	env.db, env.token, env.err = claimDB(opts)
	if env.err != nil {
		return
	}
	u.Path = "/" + strconv.Itoa(env.db)
	env.url = u.String()
	env.stop = make(chan struct{})
	go refreshLock(opts, env.db, env.token, env.stop)
}

func startEmbedded() {
	m, err := embedredis.Start()
	if err != nil {
		env.err = fmt.Errorf("start embedded redis: %w", err)
		return
	}
	env.embedded = true
	env.mini = m
	env.addr = m.Addr()
	env.db = 0
	env.url = "redis://" + m.Addr() + "/0"
	fmt.Fprintf(os.Stderr, "\n"+
		"*****************************************************************\n"+
		"* testenv: NO REDIS at %s: running on an EMBEDDED miniredis.\n"+
		"* Tests that need a real Redis server process are skipped.\n"+
		"*****************************************************************\n\n", BaseURL())
}

// The locks live in database 0, which no test flushes: a test that empties
// its own database (FLUSHDB) must not drop the lock and let another process
// claim the database in the middle of its run.
func lockKeyOf(db int) string { return lockKey + ":" + strconv.Itoa(db) }

func dbClient(base *redis.Options, db int) *redis.Client {
	o := *base
	o.DB = db
	return redis.NewClient(&o)
}

// claimDB finds a database no other test process holds and flushes it.
func claimDB(base *redis.Options) (int, string, error) {
	token := randomHex(8)
	locks := dbClient(base, 0)
	defer func() { _ = locks.Close() }()
	ctx := context.Background()
	deadline := time.Now().Add(claimFor)
	for time.Now().Before(deadline) {
		for db := firstDB; db <= lastDB; db++ {
			ok, err := locks.SetNX(ctx, lockKeyOf(db), token, lockTTL).Result()
			if err != nil {
				return 0, "", fmt.Errorf("claim test database %d: %w", db, err)
			}
			if !ok {
				continue
			}
			c := dbClient(base, db)
			err = c.FlushDB(ctx).Err()
			_ = c.Close()
			if err != nil {
				return 0, "", fmt.Errorf("empty test database %d: %w", db, err)
			}
			return db, token, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, "", fmt.Errorf("every test database %d-%d stayed locked for %v", firstDB, lastDB, claimFor)
}

// refreshScript extends the lock only while this process still holds it.
var refreshScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

func refreshLock(base *redis.Options, db int, token string, stop chan struct{}) {
	c := dbClient(base, 0)
	defer func() { _ = c.Close() }()
	t := time.NewTicker(lockTTL / 6)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ok, err := refreshScript.Run(context.Background(), c, []string{lockKeyOf(db)}, token, lockTTL.Milliseconds()).Int()
			if err == nil && ok == 0 {
				fmt.Fprintf(os.Stderr, "testenv: LOST the lock of test database %d: another process may share it\n", db)
			}
		}
	}
}

// release empties this process's database and gives its lock back.
func release(base *redis.Options, db int, token string) {
	ctx := context.Background()
	locks := dbClient(base, 0)
	defer func() { _ = locks.Close() }()
	if v, _ := locks.Get(ctx, lockKeyOf(db)).Result(); v != token {
		return
	}
	c := dbClient(base, db)
	_ = c.FlushDB(ctx).Err()
	_ = c.Close()
	locks.Del(ctx, lockKeyOf(db))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ensure(tb testing.TB) {
	tb.Helper()
	envOnce.Do(setup)
	if env.err != nil {
		tb.Fatalf("testenv: %v", env.err)
	}
}

// RedisURL returns the URL of this test process's own database.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	ensure(tb)
	return env.url
}

// RedisAddr returns host:port of the Redis server in use.
func RedisAddr(tb testing.TB) string {
	tb.Helper()
	ensure(tb)
	return env.addr
}

// RedisDB returns the database number claimed by this process.
func RedisDB(tb testing.TB) int {
	tb.Helper()
	ensure(tb)
	return env.db
}

// Embedded reports whether the tests run on the embedded miniredis.
func Embedded(tb testing.TB) bool {
	tb.Helper()
	ensure(tb)
	return env.embedded
}

// RequireRealRedis skips a test that needs a real Redis server process
// (restarts, INFO statistics) when only the embedded one is available.
func RequireRealRedis(tb testing.TB) {
	tb.Helper()
	if Embedded(tb) {
		tb.Skip("needs a real Redis server; running on embedded miniredis (no Redis at " + BaseURL() + ")")
	}
}

// Redis returns a client on this process's database, closed at test end.
func Redis(tb testing.TB) *redis.Client {
	tb.Helper()
	ensure(tb)
	opts, err := redis.ParseURL(env.url)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix unique to the calling test, for store tests
// that run in parallel on the shared database.
func Prefix(tb testing.TB) string {
	tb.Helper()
	return "shopqtest:" + randomHex(4) + ":"
}

// Queue returns a queue name unique to the calling test.
func Queue(tb testing.TB, name string) string {
	tb.Helper()
	return name + "-" + randomHex(3)
}

// Main runs a package's tests and then empties and releases its database.
// Use it from TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if env.stop != nil {
		close(env.stop)
		o := &redis.Options{Addr: env.addr}
		if u, err := url.Parse(BaseURL()); err == nil {
			if p, ok := u.User.Password(); ok {
				o.Password = p
			}
		}
		release(o, env.db, env.token)
	}
	stopMailpits()
	if env.mini != nil {
		env.mini.Close()
	}
	os.Exit(code)
}
