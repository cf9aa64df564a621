package inventory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// BenchmarkReserve measures store-level reservations/s: one Lua script per
// reservation (plus the op -> SKU index), from parallel goroutines over 64
// SKUs.
func BenchmarkReserve(b *testing.B) {
	ctx := context.Background()
	st := store.New(testenv.Redis(b), testenv.Prefix(b), store.Lifetimes{})
	inv := inventory.New(st, inventory.Options{})
	const skus = 64
	for i := range skus {
		_, err := inv.Set(ctx, fmt.Sprintf("SKU-%d", i), tasks.MaxQuantity, 1, "")
		require.NoError(b, err)
	}
	var seq atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			out, err := inv.Reserve(ctx, fmt.Sprintf("SKU-%d", i%skus), 1, fmt.Sprintf("bench-%d", i))
			if err != nil || !out.Granted {
				b.Errorf("reserve: %v %+v", err, out)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
}
