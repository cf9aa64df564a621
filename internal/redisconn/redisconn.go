// Package redisconn turns a redis.url into a go-redis universal client, the
// one connection shopq's store and asynq share.
//
// Forms of redis.url:
//
//	redis://[user:password@]host:port[/db]            single server
//	rediss://[user:password@]host:port[/db]           single server over TLS
//	redis-sentinel://[:password@]h1:26379,h2:26379[/db]?master=NAME
//	redis-cluster://[user:password@]h1:7000,h2:7001    Redis Cluster (rediss-cluster for TLS)
//
// Query parameters dial_timeout, read_timeout, write_timeout (durations) and
// pool_size apply to every form.
package redisconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options parses url into go-redis universal options.
func Options(raw string) (*redis.UniversalOptions, error) {
	u, hostList, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url %s: %w", Redact(raw), redactErr(err))
	}
	opts := &redis.UniversalOptions{}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	hosts := strings.Split(hostList, ",")
	for i, h := range hosts {
		if h == "" {
			return nil, fmt.Errorf("redis url %s: empty host", Redact(raw))
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			hosts[i] = net.JoinHostPort(h, defaultPort(u.Scheme))
		}
	}
	opts.Addrs = hosts

	switch u.Scheme {
	case "redis", "rediss":
		if len(hosts) != 1 {
			return nil, fmt.Errorf("redis url %s: %s takes one host; use redis-cluster:// or redis-sentinel://", Redact(raw), u.Scheme)
		}
	case "redis-sentinel":
		opts.MasterName = u.Query().Get("master")
		if opts.MasterName == "" {
			return nil, fmt.Errorf("redis url %s: redis-sentinel needs ?master=NAME", Redact(raw))
		}
		opts.SentinelPassword = opts.Password
	case "redis-cluster", "rediss-cluster":
		opts.IsClusterMode = true
	default:
		return nil, fmt.Errorf("redis url %s: scheme %q is not one of redis, rediss, redis-sentinel, redis-cluster, rediss-cluster", Redact(raw), u.Scheme)
	}
	if strings.HasPrefix(u.Scheme, "rediss") {
		host, _, _ := net.SplitHostPort(hosts[0])
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if opts.IsClusterMode {
			return nil, fmt.Errorf("redis url %s: Redis Cluster has no database numbers", Redact(raw))
		}
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("redis url %s: database %q is not a number", Redact(raw), p)
		}
		opts.DB = db
	}
	if err := applyQuery(opts, u.Query()); err != nil {
		return nil, fmt.Errorf("redis url %s: %w", Redact(raw), err)
	}
	return opts, nil
}

// parse splits raw into its URL parts and its comma-separated host list,
// which net/url cannot parse when several hosts carry ports.
func parse(raw string) (*url.URL, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", fmt.Errorf("missing scheme://")
	}
	// The authority ends at the first / or ? after the credentials, so a
	// password holding a / (which should be %2F) is still taken whole.
	from := max(strings.LastIndex(rest, "@"), 0)
	end := strings.IndexAny(rest[from:], "/?")
	if end < 0 {
		end = len(rest)
	} else {
		end += from
	}
	authority, tail := rest[:end], rest[end:]
	hosts := authority
	userinfo := ""
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hosts = authority[:at+1], authority[at+1:]
	}
	u, err := url.Parse(scheme + "://placeholder" + tail)
	if err != nil {
		return nil, "", err
	}
	if userinfo != "" {
		user, password, hasPassword := strings.Cut(strings.TrimSuffix(userinfo, "@"), ":")
		user = unescape(user)
		if hasPassword {
			u.User = url.UserPassword(user, unescape(password))
		} else {
			u.User = url.User(user)
		}
	}
	return u, hosts, nil
}

// unescape decodes %XX escapes, keeping s as it is when it holds a bare %.
func unescape(s string) string {
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

func applyQuery(opts *redis.UniversalOptions, q url.Values) error {
	for key := range q {
		switch key {
		case "dial_timeout", "read_timeout", "write_timeout", "pool_size", "master":
		default:
			return fmt.Errorf("unknown parameter %q (known: dial_timeout, read_timeout, write_timeout, pool_size, master)", key)
		}
	}
	for key, dst := range map[string]*time.Duration{
		"dial_timeout": &opts.DialTimeout, "read_timeout": &opts.ReadTimeout, "write_timeout": &opts.WriteTimeout,
	} {
		if v := q.Get(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*dst = d
		}
	}
	if v := q.Get("pool_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("pool_size: %q is not a positive number", v)
		}
		opts.PoolSize = n
	}
	return nil
}

func defaultPort(scheme string) string {
	if scheme == "redis-sentinel" {
		return "26379"
	}
	return "6379"
}

// Open returns a universal client for url. It does not dial.
func Open(raw string) (redis.UniversalClient, error) {
	opts, err := Options(raw)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// Redact returns url with its password replaced by "xxxxx", for logs and
// printed configuration. It works on the text, so a URL that does not parse
// (a password with an unescaped / or %) is redacted too.
func Redact(raw string) string {
	head, rest := "", raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		head, rest = scheme+"://", after
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return raw
	}
	return head + user + ":xxxxx" + rest[at:]
}

// redactErr drops url.Error's echo of the input, which may hold a password.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok { //nolint:errorlint // url.Parse returns *url.Error directly
		return ue.Err
	}
	return err
}
