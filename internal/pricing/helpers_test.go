package pricing_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type testBundle struct {
	rdb *redis.Client
	st  *store.Store
	p   *pricing.Pricing
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	rdb := testenv.Redis(t)
	st := store.New(rdb, testenv.Prefix(t), store.Lifetimes{})
	return &testBundle{rdb: rdb, st: st, p: pricing.New(st, pricing.Options{})}
}

// catalog adds SKUs to the catalog indexes as the catalog family does.
func (b *testBundle) catalog(t testing.TB, vendor, productType string, tags []string, skus ...string) {
	t.Helper()
	ctx := context.Background()
	pipe := b.rdb.Pipeline()
	for _, sku := range skus {
		pipe.SAdd(ctx, b.st.AllSKUsKey(), sku)
		if vendor != "" {
			pipe.SAdd(ctx, b.st.VendorIndexKey(vendor), sku)
		}
		if productType != "" {
			pipe.SAdd(ctx, b.st.TypeIndexKey(productType), sku)
		}
		for _, tag := range tags {
			pipe.SAdd(ctx, b.st.TagIndexKey(tag), sku)
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
}

func (b *testBundle) price(t testing.TB, sku string, amount, version int64, now time.Time) pricing.UpdateResult {
	t.Helper()
	r, err := b.p.Apply(context.Background(), tasks.PriceUpdatePayload{
		SKU: sku, Amount: amount, Currency: "EUR", Version: version,
	}, now)
	require.NoError(t, err)
	return r
}

func (b *testBundle) effective(t testing.TB, sku string, now time.Time) int64 {
	t.Helper()
	q, err := b.p.Effective(context.Background(), sku, now)
	require.NoError(t, err)
	return q.Amount
}

// stored returns the materialised effective price (what tasks stored).
func (b *testBundle) stored(t testing.TB, sku string) string {
	t.Helper()
	v, err := b.rdb.HGet(context.Background(), b.st.TagKey("sku", sku, "price"), "eff").Result()
	require.NoError(t, err)
	return v
}

func (b *testBundle) events(t testing.TB) []pricing.Event {
	t.Helper()
	msgs, err := b.rdb.XRange(context.Background(), b.p.EventsKey(), "-", "+").Result()
	require.NoError(t, err)
	out := make([]pricing.Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := pricing.ParseEvent(m)
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func mustTime(t testing.TB, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	require.NoError(t, err)
	return tm
}
