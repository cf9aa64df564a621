package mailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/mailer"
)

func TestEffectClaimRecordRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMailer(t, mailer.Options{Transport: mailer.TransportFile, OutboxDir: t.TempDir(),
		EffectTTL: time.Hour})

	c1, err := m.Claim(ctx, "order-confirmation:A-1", time.Minute)
	require.NoError(t, err)
	require.True(t, c1.Held())

	c2, err := m.Claim(ctx, "order-confirmation:A-1", time.Minute)
	require.NoError(t, err)
	require.False(t, c2.Held())
	require.False(t, c2.Duplicate)
	require.Greater(t, c2.Busy, 30*time.Second, "busy until the lease ends")

	require.NoError(t, m.Release(ctx, c2), "releasing a claim not held is a no-op")
	require.NoError(t, m.Release(ctx, c1))
	c3, err := m.Claim(ctx, "order-confirmation:A-1", time.Minute)
	require.NoError(t, err)
	require.True(t, c3.Held(), "a released lease can be taken again")

	require.Error(t, m.Record(ctx, c2, "x"), "only the holder records")
	require.NoError(t, m.Record(ctx, c3, "id-1@example.test"))
	c4, err := m.Claim(ctx, "order-confirmation:A-1", time.Minute)
	require.NoError(t, err)
	require.True(t, c4.Duplicate)
	require.Equal(t, "id-1@example.test", c4.MessageID)
	require.False(t, c4.Held())

	other, err := m.Claim(ctx, "order-confirmation:A-2", time.Minute)
	require.NoError(t, err)
	require.True(t, other.Held(), "keys are independent")
}

func TestMessageIDIsStablePerEffectKey(t *testing.T) {
	t.Parallel()
	a := mailer.MessageID("order-confirmation:A-1", "example.test")
	require.Equal(t, a, mailer.MessageID("order-confirmation:A-1", "example.test"))
	require.NotEqual(t, a, mailer.MessageID("order-confirmation:A-2", "example.test"))
	require.Regexp(t, `^[0-9a-f]{40}@example\.test$`, a)
}

func TestRateLimitAcrossMailers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	opts := mailer.Options{From: "shop@example.test", Transport: mailer.TransportFile, OutboxDir: t.TempDir(),
		RatePerSecond: 0.5}
	// Two mailers on one store stand for two worker processes.
	m1, err := mailer.New(opts, st, nil)
	require.NoError(t, err)
	m2, err := mailer.New(opts, st, nil)
	require.NoError(t, err)

	var allowed int
	var wait time.Duration
	for i := range 6 {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		w, err := m.Allow(ctx)
		require.NoError(t, err)
		if w == 0 {
			allowed++
		} else {
			wait = w
		}
	}
	require.Equal(t, 1, allowed, "one slot per 2 s, shared by both")
	require.Greater(t, wait, time.Duration(0))
	require.LessOrEqual(t, wait, 2*time.Second, "one slot every 1/rate seconds")

	unlimited := newMailer(t, mailer.Options{Transport: mailer.TransportFile, OutboxDir: t.TempDir()})
	for range 100 {
		w, err := unlimited.Allow(ctx)
		require.NoError(t, err)
		require.Zero(t, w)
	}
}
