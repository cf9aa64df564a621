package pricing_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

// TestCatalogImportPrices imports the real Shopify export through the
// catalog family and a real worker: compare-at prices become the base and
// sale prices the effective prices, and a promotion by vendor resolves
// through the indexes the catalog wrote.
func TestCatalogImportPrices(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	b := setup(t)
	ctx := context.Background()
	redisOpt := asynq.RedisClientOpt{Addr: testenv.RedisAddr(t), DB: testenv.RedisDB(t)}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { _ = client.Close() })
	insp := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { _ = insp.Close() })
	queue := testenv.Queue(t, "pricing-e2e")
	deps := handlers.Deps{
		Store: b.st, Enqueuer: queueEnqueuer{c: client, queue: queue}, Logger: slog.New(slog.DiscardHandler),
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	handlers.Register(mux,
		handlers.NewCatalog(deps, catalog.Options{ChunkSize: 5, PollInterval: 10 * time.Millisecond, WorkDir: t.TempDir()}),
		handlers.NewPrices(deps, pricing.Options{}), handlers.NewPromotions(deps, pricing.Options{}))
	// Stock and mail follow-ups are other families' business here.
	noop := func(context.Context, *asynq.Task) error { return nil }
	mux.HandleFunc("inventory:", noop)
	mux.HandleFunc("mail:", noop)
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)

	src, err := filepath.Abs("../../testdata/shopify/home-and-garden.csv")
	require.NoError(t, err)
	task, err := tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
		Source: src, Format: tasks.FormatShopifyCSV, Supplier: "garden", Currency: "USD",
	}, asynq.Retention(time.Hour))
	require.NoError(t, err)
	info, err := deps.Enqueuer.EnqueueContext(ctx, task)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ti, err := insp.GetTaskInfo(info.Queue, info.ID)
		if err != nil || ti.State != asynq.TaskStateCompleted {
			return false
		}
		var rep tasks.CatalogImportResult
		require.NoError(t, json.Unmarshal(ti.Result, &rep))
		require.Equal(t, 21, rep.Created)
		return true
	}, 30*time.Second, 20*time.Millisecond)

	rows := readShopifyPrices(t, "../../testdata/shopify/home-and-garden.csv")
	now := time.Now()
	require.Eventually(t, func() bool {
		_, err := b.p.Get(ctx, "bedside-table", now)
		return err == nil
	}, 20*time.Second, 20*time.Millisecond)
	for _, r := range rows {
		sku := catalog.DeriveSKU(r.handle, r.options)
		var v pricing.PriceView
		require.Eventually(t, func() bool {
			v, err = b.p.Get(ctx, sku, now)
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, sku)
		require.Equal(t, "USD", v.Currency)
		if r.compareAt > r.price {
			require.Equal(t, r.compareAt, v.Base, sku)
			require.Equal(t, r.price, v.Effective, sku)
		} else {
			require.Equal(t, r.price, v.Base, sku)
			require.Equal(t, r.price, v.Effective, sku)
		}
	}

	// 30 % off Rustic LTD: beats the sale where it is lower.
	out, err := b.p.Upsert(ctx, tasks.PromotionUpsertPayload{
		ID: "RUSTIC30", Discount: tasks.Discount{Percent: 30}, Target: tasks.Target{Vendors: []string{"rustic ltd"}},
		StartsAt: now.Add(-time.Hour).UTC().Format(time.RFC3339), EndsAt: now.Add(time.Hour).UTC().Format(time.RFC3339),
	}, now)
	require.NoError(t, err)
	require.Equal(t, 9, out.Affected)
	v, err := b.p.Get(ctx, "wooden-fence", now) // compare-at 300, price 200: 30 % off 300 = 210 > 200
	require.NoError(t, err)
	require.Equal(t, int64(20000), v.Effective)
	require.Equal(t, "sale", v.Source)
	v, err = b.p.Get(ctx, "gardening-hand-trowel", now) // compare-at 25, price 10.99: 17.50 > 10.99
	require.NoError(t, err)
	require.Equal(t, int64(1099), v.Effective)
	v, err = b.p.Get(ctx, "wooden-outdoor-table", now) // 99.99, no sale: 30 % off = 69.99 (29.997 off, rounded up)
	require.NoError(t, err)
	require.Equal(t, int64(6999), v.Effective)
	require.Equal(t, "RUSTIC30", v.ActivePromotion.ID)
}
