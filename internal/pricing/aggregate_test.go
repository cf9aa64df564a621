package pricing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/tasks"
)

// TestAggregatePriceUpdates: B12's grouped price changes merge into one
// batch holding every SKU once, at its highest version.
func TestAggregatePriceUpdates(t *testing.T) {
	t.Parallel()
	var ts []*asynq.Task
	for i := range 200 {
		task, err := tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{
			SKU: fmt.Sprintf("S%d", i%50), Amount: int64(100 + i), Currency: "EUR", Version: int64(i + 1),
		}, asynq.Group("store-01"))
		require.NoError(t, err)
		ts = append(ts, task)
	}
	ts = append(ts, asynq.NewTask(tasks.TypePriceUpdate, []byte(`{"sku":"BAD","amount":-5}`)))

	agg := handlers.AggregatePriceUpdates("store-01", ts)
	require.Equal(t, tasks.TypePriceUpdateBatch, agg.Type())
	var p tasks.PriceUpdateBatchPayload
	require.NoError(t, json.Unmarshal(agg.Payload(), &p))
	require.Len(t, p.Updates, 50)
	for _, u := range p.Updates {
		require.GreaterOrEqual(t, u.Version, int64(151), u.SKU)
	}

	b := setup(t)
	_, err := b.p.ApplyBatch(context.Background(), p.Updates, t0)
	require.NoError(t, err)
	require.Equal(t, int64(100+199), b.effective(t, "S49", t0))
}
