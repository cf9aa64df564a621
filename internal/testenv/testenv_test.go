package testenv

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedisDatabaseIsOurs(t *testing.T) {
	c := Redis(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "probe", "1", 0).Err())
	n, err := c.Exists(ctx, "probe").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	if !Embedded(t) {
		require.GreaterOrEqual(t, RedisDB(t), firstDB)
		locks := dbClient(&redis.Options{Addr: RedisAddr(t)}, 0)
		defer func() { _ = locks.Close() }()
		tok, err := locks.Get(ctx, lockKeyOf(RedisDB(t))).Result()
		require.NoError(t, err)
		require.Equal(t, env.token, tok)

		// A test emptying its own database keeps the database's lock.
		require.NoError(t, c.FlushDB(ctx).Err())
		tok, err = locks.Get(ctx, lockKeyOf(RedisDB(t))).Result()
		require.NoError(t, err)
		require.Equal(t, env.token, tok)
	}
}

func TestMailpitReceives(t *testing.T) {
	m := SharedMailpit(t)
	require.NotZero(t, m.SMTPPort)
	require.Empty(t, m.Messages(t, "to:nobody-yet@example.test"))
}
