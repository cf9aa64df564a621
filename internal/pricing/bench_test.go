package pricing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

// BenchmarkPromotionPropagation100k upserts a promotion over 100,000 SKUs
// (resolved through a vendor index) and reports how many SKUs per second get
// their term attached and effective price materialised and published. Each
// iteration changes the discount, so every SKU changes.
func BenchmarkPromotionPropagation100k(b *testing.B) {
	const n = 100_000
	tb := setup(b)
	ctx := context.Background()
	skus := make([]string, n)
	for i := range skus {
		skus[i] = fmt.Sprintf("BENCH-%06d", i)
	}
	for i := 0; i < n; i += tasks.MaxBatchItems {
		tb.catalog(b, "Bulk Vendor", "", nil, skus[i:i+tasks.MaxBatchItems]...)
		var us []tasks.PriceUpdatePayload
		for _, sku := range skus[i : i+tasks.MaxBatchItems] {
			us = append(us, tasks.PriceUpdatePayload{SKU: sku, Amount: 10000, Currency: "EUR", Version: 1})
		}
		_, err := tb.p.ApplyBatch(ctx, us, t0)
		require.NoError(b, err)
	}

	p := tasks.PromotionUpsertPayload{
		ID: "BULK", Target: tasks.Target{Vendors: []string{"Bulk Vendor"}},
		StartsAt: "2025-06-01", EndsAt: "2025-06-30", TimeZone: "Europe/Berlin",
	}
	start := time.Now()
	iters := 0
	for b.Loop() {
		iters++
		p.Version = int64(iters)
		p.Discount.Percent = float64(10 + iters%2*10)
		out, err := tb.p.Upsert(ctx, p, t0)
		require.NoError(b, err)
		require.Equal(b, n, out.Affected)
		require.Equal(b, n, out.Changed)
	}
	b.ReportMetric(float64(n*iters)/time.Since(start).Seconds(), "skus/s")
	q, err := tb.p.Effective(ctx, skus[n/2], t0)
	require.NoError(b, err)
	require.Equal(b, int64(10000-(10+iters%2*10)*100), q.Amount)
}
