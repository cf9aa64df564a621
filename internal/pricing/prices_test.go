package pricing_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

var t0 = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func TestPriceUpdate(t *testing.T) {
	t.Parallel()

	t.Run("NewerAppliesOlderAndEqualAreStale", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.Equal(t, pricing.Applied, b.price(t, "MUG", 1000, 5, t0).Outcome)
		require.Equal(t, pricing.Stale, b.price(t, "MUG", 900, 5, t0).Outcome)
		require.Equal(t, pricing.Stale, b.price(t, "MUG", 800, 4, t0).Outcome)
		r := b.price(t, "MUG", 1200, 6, t0)
		require.Equal(t, pricing.Applied, r.Outcome)
		require.Equal(t, int64(1200), r.Quote.Amount)
		require.Equal(t, int64(1200), b.effective(t, "MUG", t0))
	})

	t.Run("VersionsAbove2To53CompareExactly", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		v := int64(1<<53) + 1 // nanosecond timestamps reach here
		require.Equal(t, pricing.Applied, b.price(t, "MUG", 1000, v, t0).Outcome)
		require.Equal(t, pricing.Applied, b.price(t, "MUG", 1100, v+1, t0).Outcome)
		require.Equal(t, pricing.Stale, b.price(t, "MUG", 900, v, t0).Outcome)
		require.Equal(t, int64(1100), b.effective(t, "MUG", t0))
	})

	t.Run("NotedNewerVersionSupersedes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		b.price(t, "MUG", 1000, 1, t0)
		// Another handler noted version 9 and has not applied it yet.
		require.NoError(t, b.p.NoteVersions(ctx, []pricing.SKUVersion{{SKU: "MUG", Version: 9}}, t0))
		r := b.price(t, "MUG", 1100, 5, t0.Add(time.Minute))
		require.Equal(t, pricing.Superseded, r.Outcome)
		require.Equal(t, int64(1000), b.effective(t, "MUG", t0))

		// A note whose update never arrives stops holding others back.
		late := t0.Add(pricing.DefaultNoteLifetime)
		require.Equal(t, pricing.Applied, b.price(t, "MUG", 1150, 6, late).Outcome)
		require.Equal(t, int64(1150), b.effective(t, "MUG", late))
		require.Equal(t, pricing.Applied, b.price(t, "MUG", 1200, 9, late).Outcome)
		require.Equal(t, int64(1200), b.effective(t, "MUG", late))
	})

	t.Run("BatchCollapsesSameSKU", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rs, err := b.p.ApplyBatch(context.Background(), []tasks.PriceUpdatePayload{
			{SKU: "A", Amount: 100, Currency: "EUR", Version: 1},
			{SKU: "B", Amount: 200, Currency: "EUR", Version: 1},
			{SKU: "A", Amount: 300, Currency: "EUR", Version: 3},
			{SKU: "A", Amount: 200, Currency: "EUR", Version: 2},
		}, t0)
		require.NoError(t, err)
		got := []pricing.Outcome{rs[0].Outcome, rs[1].Outcome, rs[2].Outcome, rs[3].Outcome}
		require.Equal(t, []pricing.Outcome{pricing.Superseded, pricing.Applied, pricing.Applied, pricing.Stale}, got)
		require.Equal(t, int64(300), b.effective(t, "A", t0))
		require.Equal(t, int64(200), b.effective(t, "B", t0))
		// One event per SKU: the collapsed updates did no work.
		require.Len(t, b.events(t), 2)
	})

	t.Run("RetryFinishesMaterialisation", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		b.price(t, "MUG", 1000, 1, t0)
		// The first attempt of version 2 stored the price, then its worker
		// died before materialising it.
		key := b.st.TagKey("sku", "MUG", "price")
		require.NoError(t, b.rdb.HSet(ctx, key, "ver", fmt.Sprintf("%020d", 2), "base", 1200).Err())
		require.NoError(t, b.rdb.HIncrBy(ctx, key, "rev", 1).Err())
		require.Equal(t, "1000", b.stored(t, "MUG"))

		r := b.price(t, "MUG", 1200, 2, t0) // the retry
		require.Equal(t, pricing.Stale, r.Outcome)
		require.Equal(t, "1200", b.stored(t, "MUG"))
		ev := b.events(t)
		require.Equal(t, int64(1200), ev[len(ev)-1].New)
		require.Equal(t, "1000", ev[len(ev)-1].Old)
	})

	t.Run("RetryPublishesLostEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		b.price(t, "MUG", 1000, 1, t0)
		key := b.st.TagKey("sku", "MUG", "price")
		pending, err := b.rdb.HExists(ctx, key, "evp").Result()
		require.NoError(t, err)
		require.False(t, pending, "a published event leaves no mark")

		// The first attempt of version 2 stored and materialised the price,
		// then its worker died before publishing the event.
		require.NoError(t, b.rdb.HSet(ctx, key, "ver", fmt.Sprintf("%020d", 2), "base", 1200,
			"eff", 1200, "effseq", 2, "evp", "1000\nEUR\n2").Err())
		require.NoError(t, b.rdb.HIncrBy(ctx, key, "rev", 1).Err())
		require.Len(t, b.events(t), 1)

		require.Equal(t, pricing.Stale, b.price(t, "MUG", 1200, 2, t0).Outcome) // the retry
		ev := b.events(t)
		require.Len(t, ev, 2)
		require.Equal(t, "1000", ev[1].Old)
		require.Equal(t, int64(1200), ev[1].New)
		require.Equal(t, int64(2), ev[1].Seq)
		pending, err = b.rdb.HExists(ctx, key, "evp").Result()
		require.NoError(t, err)
		require.False(t, pending)

		b.price(t, "MUG", 1200, 2, t0) // nothing pending: nothing published
		require.Len(t, b.events(t), 2)
	})

	t.Run("UnknownSKU", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.p.Get(context.Background(), "NOPE", t0)
		require.ErrorIs(t, err, store.ErrNotFound)
		// A noted version alone does not make a price.
		require.NoError(t, b.p.NoteVersions(context.Background(), []pricing.SKUVersion{{SKU: "NOPE", Version: 1}}, t0))
		_, err = b.p.Effective(context.Background(), "NOPE", t0)
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SaleWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sale := int64(5999)
		_, err := b.p.Apply(context.Background(), tasks.PriceUpdatePayload{
			SKU: "LAMP", Amount: 7500, Currency: "EUR", Version: 1, SaleAmount: &sale,
			SaleStartsAt: "2025-06-20T00:00:00Z", SaleEndsAt: "2025-06-21T00:00:00Z",
		}, t0)
		require.NoError(t, err)
		require.Equal(t, int64(7500), b.effective(t, "LAMP", t0))
		require.Equal(t, int64(5999), b.effective(t, "LAMP", mustTime(t, "2025-06-20T00:00:00Z")))
		require.Equal(t, int64(7500), b.effective(t, "LAMP", mustTime(t, "2025-06-21T00:00:00Z")))
		require.Equal(t, "7500", b.stored(t, "LAMP"))

		// The sweep materialises the sale start and publishes it.
		res, err := b.p.Sweep(context.Background(), mustTime(t, "2025-06-20T00:00:05Z"))
		require.NoError(t, err)
		require.Equal(t, 1, res.SKUs)
		require.Equal(t, "5999", b.stored(t, "LAMP"))
		ev := b.events(t)
		require.Equal(t, pricing.Event{
			SKU: "LAMP", Old: "7500", New: 5999, Currency: "EUR", Reason: pricing.ReasonSweep,
			Version: 1, Source: pricing.SourceSale, At: mustTime(t, "2025-06-20T00:00:05Z").UnixMilli(), Seq: 2,
		}, ev[len(ev)-1])
	})
}

// TestShuffledDuplicatedUpdates delivers the updates of one SKU in many
// shuffled orders with duplicates, from concurrent workers, and checks that
// every run ends at the highest version's price.
func TestShuffledDuplicatedUpdates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runs, versions, workers = 40, 30, 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sku := fmt.Sprintf("SKU-%d", run)
			var us []tasks.PriceUpdatePayload
			for v := int64(1); v <= versions; v++ {
				u := tasks.PriceUpdatePayload{SKU: sku, Amount: 1000 + v*7, Currency: "EUR", Version: v}
				for range 1 + rand.IntN(3) {
					us = append(us, u)
				}
			}
			rand.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
			ch := make(chan tasks.PriceUpdatePayload)
			var inner sync.WaitGroup
			for range workers {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for u := range ch {
						if _, err := b.p.Apply(context.Background(), u, t0); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}
				}()
			}
			for _, u := range us {
				ch <- u
			}
			close(ch)
			inner.Wait()
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for run := range runs {
		sku := fmt.Sprintf("SKU-%d", run)
		v, err := b.p.Get(context.Background(), sku, t0)
		require.NoError(t, err)
		require.Equal(t, int64(versions), v.Version, sku)
		require.Equal(t, int64(1000+versions*7), v.Effective, sku)
		require.Equal(t, fmt.Sprint(1000+versions*7), b.stored(t, sku), sku)
	}
	// The event with the highest seq of each SKU carries the final price.
	last := map[string]pricing.Event{}
	for _, e := range b.events(t) {
		if e.Seq > last[e.SKU].Seq {
			last[e.SKU] = e
		}
	}
	require.Len(t, last, runs)
	for sku, e := range last {
		require.Equal(t, int64(1000+versions*7), e.New, sku)
	}
}
