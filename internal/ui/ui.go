// Package ui serves asynqmon, asynq's web UI, under /ui/ on the worker's
// admin server: queues, tasks by state, pause and resume, re-run and delete.
//
// The UI can delete and re-run any task, so it sits behind HTTP basic auth
// whenever credentials are set, and CheckExposure refuses to serve it on a
// non-loopback address without them. With ReadOnly every action is off:
// asynqmon hides its buttons and refuses non-GET API calls, and this package
// refuses them too, before asynqmon sees them.
package ui

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// RootPath is where the UI is mounted; mount Handler at RootPath + "/".
const RootPath = "/ui"

// Options configure the UI.
type Options struct {
	// Redis is the client shared with the worker. Required.
	Redis redis.UniversalClient
	// Username and Password turn on basic auth when both are set.
	Username string
	Password string
	// ReadOnly turns off every action (pause, delete, run, archive, cancel).
	ReadOnly bool
}

// Handler returns the UI handler for paths under RootPath.
//
// Note: the handler shares Options.Redis and never closes it.
func Handler(opts Options) (http.Handler, error) {
	if opts.Redis == nil {
		return nil, errors.New("ui: Redis is required")
	}
	if (opts.Username == "") != (opts.Password == "") {
		return nil, errors.New("ui: set both ui.username and ui.password, or neither")
	}

	var h http.Handler = asynqmon.New(asynqmon.Options{
		RootPath:     RootPath,
		RedisConnOpt: sharedConn{opts.Redis},
		ReadOnly:     opts.ReadOnly,
	})
	if opts.ReadOnly {
		h = readOnly(h)
	}
	if opts.Username != "" {
		h = basicAuth(h, opts.Username, opts.Password)
	}
	return h, nil
}

// sharedConn hands asynqmon the worker's client instead of a new pool; it
// implements asynq.RedisConnOpt.
type sharedConn struct {
	rdb redis.UniversalClient
}

// MakeRedisClient returns the shared client.
func (c sharedConn) MakeRedisClient() any { return c.rdb }

// readOnly refuses every method that could change state.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the UI is read-only (ui.read_only)", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// basicAuth checks credentials in constant time. Both sides are hashed first
// so that the comparison does not reveal their lengths either.
func basicAuth(next http.Handler, username, password string) http.Handler {
	wantUser := sha256.Sum256([]byte(username))
	wantPass := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="shopq", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CheckExposure refuses to serve the UI on addr without credentials unless
// addr only listens on loopback. An empty host, 0.0.0.0 and :: listen on
// every interface; a host name other than localhost may resolve anywhere.
func CheckExposure(addr, username, password string) error {
	if (username == "") != (password == "") {
		return errors.New("ui: set both ui.username and ui.password, or neither")
	}
	if username != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ui: listen address %q: %w", addr, err)
	}
	if isLoopback(host) {
		return nil
	}
	return fmt.Errorf("ui: refusing to serve the web UI on %q without credentials: "+
		"set ui.username and ui.password (SHOPQ_UI_PASSWORD), listen on 127.0.0.1, or set ui.enabled: false", addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
