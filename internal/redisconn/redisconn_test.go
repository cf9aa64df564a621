package redisconn

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestURLForms(t *testing.T) {
	o, err := Options("redis://user:pw@10.0.0.5:6390/3?dial_timeout=2s&pool_size=40")
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.5:6390"}, o.Addrs)
	require.Equal(t, "user", o.Username)
	require.Equal(t, "pw", o.Password)
	require.Equal(t, 3, o.DB)
	require.Equal(t, 2*time.Second, o.DialTimeout)
	require.Equal(t, 40, o.PoolSize)
	require.Nil(t, o.TLSConfig)

	o, err = Options("rediss://cache.example.test/0")
	require.NoError(t, err)
	require.Equal(t, []string{"cache.example.test:6379"}, o.Addrs)
	require.Equal(t, "cache.example.test", o.TLSConfig.ServerName)

	o, err = Options("redis-sentinel://:spw@s1:26379,s2/1?master=shop")
	require.NoError(t, err)
	require.Equal(t, []string{"s1:26379", "s2:26379"}, o.Addrs)
	require.Equal(t, "shop", o.MasterName)
	require.Equal(t, "spw", o.SentinelPassword)
	require.Equal(t, 1, o.DB)

	o, err = Options("redis-cluster://n1:7000,n2:7001")
	require.NoError(t, err)
	require.True(t, o.IsClusterMode)
	require.Equal(t, []string{"n1:7000", "n2:7001"}, o.Addrs)
}

func TestBadURLsNameTheProblemWithoutThePassword(t *testing.T) {
	for raw, want := range map[string]string{
		"ftp://u:hunter2@h:1":                   "scheme",
		"redis://u:hunter2@h1:1,h2:2":           "one host",
		"redis-sentinel://:hunter2@s1:26379":    "master",
		"redis-cluster://:hunter2@n1:7000/2":    "database",
		"redis://:hunter2@h:6379/x":             "database",
		"redis://:hunter2@h:6379/0?pool_size=0": "pool_size",
		"redis://:hunter2@h:6379/0?pool-size=3": "unknown parameter",
	} {
		_, err := Options(raw)
		require.Error(t, err, raw)
		require.Contains(t, err.Error(), want, raw)
		require.NotContains(t, err.Error(), "hunter2", raw)
	}
}

func TestRedact(t *testing.T) {
	require.Equal(t, "redis://user:xxxxx@h:6379/0", Redact("redis://user:s3cret@h:6379/0"))
	require.Equal(t, "redis://h:6379/0", Redact("redis://h:6379/0"))
	require.NotContains(t, Redact("redis://:p%zz@h:1"), "p%zz")
	require.Equal(t, "redis://alice:xxxxx@h:6379/0", Redact("redis://alice:s3cr/et@h:6379/0"))
	require.Equal(t, "alice:xxxxx@h:6379", Redact("alice:pw@h:6379"), "no scheme: still redacted")
	require.Equal(t, "redis-sentinel://:xxxxx@s1:26379,s2/1?master=shop", Redact("redis-sentinel://:pw@s1:26379,s2/1?master=shop"))

	o, err := Options("redis://alice:s3cr/et@h:6379/2")
	require.NoError(t, err, "a password with a / is taken whole")
	require.Equal(t, "s3cr/et", o.Password)
	require.Equal(t, 2, o.DB)
}
