package pricing_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

func summer20() tasks.PromotionUpsertPayload {
	return tasks.PromotionUpsertPayload{
		ID: "SUMMER20", Name: "Summer 20 %", Discount: tasks.Discount{Percent: 20},
		Target:   tasks.Target{Vendors: []string{"Company 123"}},
		StartsAt: "2025-06-01T00:00:00", EndsAt: "2025-06-30", TimeZone: "Europe/Berlin",
		Priority: 1, Version: 1,
	}
}

func (b *testBundle) upsert(t testing.TB, p tasks.PromotionUpsertPayload, now time.Time) pricing.PromotionOutcome {
	t.Helper()
	require.NoError(t, p.Validate())
	out, err := b.p.Upsert(context.Background(), p, now)
	require.NoError(t, err)
	return out
}

// TestSummer20Berlin is scenario B23: a promotion entered in Berlin time is
// active from its first second to the last second of its end date.
func TestSummer20Berlin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "Company 123", "Indoor", nil, "LAMP", "SOFA")
	b.catalog(t, "Rustic LTD", "Outdoor", nil, "TABLE")
	entered := mustTime(t, "2025-05-20T09:00:00Z")
	for _, sku := range []string{"LAMP", "SOFA", "TABLE"} {
		b.price(t, sku, 10000, 1, entered)
	}
	out := b.upsert(t, summer20(), entered)
	require.True(t, out.Applied)
	require.Equal(t, 2, out.Affected)
	require.Equal(t, "scheduled", out.State)
	require.Equal(t, []pricing.Transition{
		{At: mustTime(t, "2025-05-31T22:00:00Z"), Bound: "start"},
		{At: mustTime(t, "2025-06-30T22:00:00Z"), Bound: "end"},
	}, out.Transitions)

	probes := []struct {
		at   string
		want int64
	}{
		{"2025-05-31T21:59:59Z", 10000},
		{"2025-05-31T22:00:00Z", 8000},
		{"2025-06-30T21:59:59Z", 8000},
		{"2025-06-30T22:00:00Z", 10000},
	}
	for _, pr := range probes {
		now := mustTime(t, pr.at)
		require.Equal(t, pr.want, b.effective(t, "LAMP", now), pr.at)
		require.Equal(t, pr.want, b.effective(t, "SOFA", now), pr.at)
		require.Equal(t, int64(10000), b.effective(t, "TABLE", now), pr.at)
		// The last millisecond before the start is still inactive.
		v, err := b.p.Get(context.Background(), "LAMP", now)
		require.NoError(t, err)
		require.Equal(t, pr.want, v.Effective)
		require.Equal(t, pr.want == 8000, v.ActivePromotion != nil, pr.at)
	}
	require.Equal(t, int64(10000), b.effective(t, "LAMP", mustTime(t, "2025-05-31T21:59:59.999Z")))

	// Transitions run late (as asynq's forwarder makes them) and still
	// materialise the same prices, with events for each SKU.
	start, err := b.p.Recompute(context.Background(), "SUMMER20", mustTime(t, "2025-05-31T22:00:04Z"), pricing.ReasonPromotionStart)
	require.NoError(t, err)
	require.Equal(t, 2, start.Changed)
	require.Equal(t, "8000", b.stored(t, "LAMP"))
	end, err := b.p.Recompute(context.Background(), "SUMMER20", mustTime(t, "2025-06-30T22:00:03Z"), pricing.ReasonPromotionEnd)
	require.NoError(t, err)
	require.Equal(t, "ended", end.State)
	require.Equal(t, 2, end.Changed)
	require.Equal(t, "10000", b.stored(t, "LAMP"))

	var reasons []string
	for _, e := range b.events(t) {
		if e.SKU == "LAMP" {
			reasons = append(reasons, e.Reason+":"+e.Old+">"+strconv.FormatInt(e.New, 10))
		}
	}
	require.Equal(t, []string{"price_update:>10000", "promotion_start:10000>8000", "promotion_end:8000>10000"}, reasons)
}

// TestDSTSpanningPromotion: 02:00-04:00 Europe/Berlin on 2025-10-26 spans the
// end of summer time (03:00 CEST becomes 02:00 CET) and lasts 3 real hours.
func TestDSTSpanningPromotion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "", "", []string{"Night"}, "OWL")
	entered := mustTime(t, "2025-10-01T00:00:00Z")
	b.price(t, "OWL", 2000, 1, entered)
	out := b.upsert(t, tasks.PromotionUpsertPayload{
		ID: "NIGHT", Discount: tasks.Discount{Amounts: map[string]int64{"EUR": 500}},
		Target:   tasks.Target{Tags: []string{"night"}},
		StartsAt: "2025-10-26T02:00:00", EndsAt: "2025-10-26T04:00:00", TimeZone: "Europe/Berlin",
	}, entered)
	require.Len(t, out.Transitions, 2)
	require.Equal(t, 3*time.Hour, out.Transitions[1].At.Sub(out.Transitions[0].At))
	require.Equal(t, mustTime(t, "2025-10-26T00:00:00Z"), out.Transitions[0].At)

	for at, want := range map[string]int64{
		"2025-10-25T23:59:59Z": 2000,
		"2025-10-26T00:00:00Z": 1500, // 02:00 CEST
		"2025-10-26T01:30:00Z": 1500, // 02:30 CET, the repeated hour
		"2025-10-26T02:59:59Z": 1500,
		"2025-10-26T03:00:00Z": 2000, // 04:00 CET
	} {
		require.Equal(t, want, b.effective(t, "OWL", mustTime(t, at)), at)
	}
}

func TestPromotionCancelAndOverlap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "Home Sweet Home", "Indoor", []string{"Sofa"}, "YELLOW", "GREY")
	b.catalog(t, "Rustic LTD", "Indoor", []string{"Pillows"}, "PILLOW")
	now := mustTime(t, "2025-07-01T10:00:00Z")
	for _, sku := range []string{"YELLOW", "GREY", "PILLOW"} {
		b.price(t, sku, 10000, 1, now)
	}
	window := func(p tasks.PromotionUpsertPayload) tasks.PromotionUpsertPayload {
		p.StartsAt, p.EndsAt, p.TimeZone = "2025-07-01", "2025-07-31", "Europe/Berlin"
		return p
	}
	// A: 10 % on every Indoor product, priority 5.
	a := window(tasks.PromotionUpsertPayload{
		ID: "A", Discount: tasks.Discount{Percent: 10}, Priority: 5,
		Target: tasks.Target{ProductTypes: []string{"indoor"}},
	})
	// B: 10.00 EUR off sofas (tag), priority 1: ties with A on 100.00 EUR.
	bp := window(tasks.PromotionUpsertPayload{
		ID: "B", Discount: tasks.Discount{Amounts: map[string]int64{"EUR": 1000}}, Priority: 1,
		Target: tasks.Target{Tags: []string{" SOFA "}},
	})
	b.upsert(t, a, now)
	require.Equal(t, int64(9000), b.effective(t, "YELLOW", now))
	b.upsert(t, bp, now)

	v, err := b.p.Get(context.Background(), "YELLOW", now)
	require.NoError(t, err)
	require.Equal(t, int64(9000), v.Effective)
	require.Equal(t, "A", v.ActivePromotion.ID, "tie: higher priority wins")
	require.Len(t, v.Promotions, 2)

	// B raised to 15.00 EUR off: the lower price wins regardless of priority.
	bp.Discount.Amounts["EUR"], bp.Version = 1500, 2
	b.upsert(t, bp, now)
	v, err = b.p.Get(context.Background(), "YELLOW", now)
	require.NoError(t, err)
	require.Equal(t, int64(8500), v.Effective)
	require.Equal(t, "B", v.ActivePromotion.ID)
	require.Equal(t, "8500", b.stored(t, "YELLOW"))
	require.Equal(t, int64(9000), b.effective(t, "PILLOW", now))

	// An older edit of B arriving late is ignored.
	stale := bp
	stale.Discount.Amounts = map[string]int64{"EUR": 1}
	stale.Version = 1
	require.False(t, b.upsert(t, stale, now).Applied)
	require.Equal(t, int64(8500), b.effective(t, "YELLOW", now))

	// Cancelling B restores A's price; cancelling A restores the base.
	out, err := b.p.Cancel(context.Background(), "B", now)
	require.NoError(t, err)
	require.True(t, out.Applied)
	require.Equal(t, 2, out.Affected)
	require.Equal(t, int64(9000), b.effective(t, "YELLOW", now))
	require.Equal(t, "9000", b.stored(t, "YELLOW"))
	_, err = b.p.Cancel(context.Background(), "B", now) // idempotent
	require.NoError(t, err)
	_, err = b.p.Cancel(context.Background(), "A", now)
	require.NoError(t, err)
	for _, sku := range []string{"YELLOW", "GREY", "PILLOW"} {
		require.Equal(t, int64(10000), b.effective(t, sku, now), sku)
		require.Equal(t, "10000", b.stored(t, sku), sku)
	}

	// A retried upsert of the cancelled version stays cancelled.
	require.False(t, b.upsert(t, bp, now).Applied)
	require.Equal(t, int64(10000), b.effective(t, "YELLOW", now))
	ev := b.events(t)
	require.Equal(t, pricing.ReasonPromotionCancel, ev[len(ev)-1].Reason)
	require.Equal(t, "9000", ev[len(ev)-1].Old)
	require.Equal(t, int64(10000), ev[len(ev)-1].New)
}

func TestPromotionRetargetAndIdempotence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "V1", "", nil, "X1", "X2")
	b.catalog(t, "V2", "", nil, "Y1")
	now := mustTime(t, "2025-07-01T10:00:00Z")
	for _, sku := range []string{"X1", "X2", "Y1", "Z1"} {
		b.price(t, sku, 1000, 1, now)
	}
	p := tasks.PromotionUpsertPayload{
		ID: "P", Discount: tasks.Discount{Percent: 50},
		Target:   tasks.Target{Vendors: []string{"v1"}, SKUs: []string{"Z1"}},
		StartsAt: "2025-07-01T00:00:00Z", EndsAt: "2025-08-01T00:00:00Z", Version: 1,
	}
	b.upsert(t, p, now)
	nEvents := len(b.events(t))
	again := b.upsert(t, p, now) // a redelivered task converges, publishing nothing new
	require.Equal(t, 3, again.Affected)
	require.Equal(t, 0, again.Changed)
	require.Len(t, b.events(t), nEvents)

	p.Target, p.Version = tasks.Target{Vendors: []string{"V2"}}, 2
	b.upsert(t, p, now)
	for sku, want := range map[string]int64{"X1": 1000, "X2": 1000, "Z1": 1000, "Y1": 500} {
		require.Equal(t, want, b.effective(t, sku, now), sku)
	}
	members, err := b.rdb.SMembers(context.Background(), b.st.TagKey("promo", "P", "skus")).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"Y1"}, members)

	// A cancel delivered before its create keeps the promotion off.
	_, err = b.p.Cancel(context.Background(), "LATE", now)
	require.NoError(t, err)
	late := p
	late.ID, late.Version = "LATE", 0
	require.False(t, b.upsert(t, late, now).Applied)
	require.Equal(t, int64(500), b.effective(t, "Y1", now))
}

// TestSweepRepairsMissedTransition: no transition task ran at the start; the
// reader was right all along and the sweep materialises and publishes.
func TestSweepRepairsMissedTransition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "V", "", nil, "S1", "S2")
	created := mustTime(t, "2025-07-01T10:00:00Z")
	b.price(t, "S1", 1000, 1, created)
	b.price(t, "S2", 2000, 1, created)
	ctx := context.Background()
	_, err := b.p.Sweep(ctx, created) // first sweep, nothing to do
	require.NoError(t, err)
	b.upsert(t, tasks.PromotionUpsertPayload{
		ID: "FLASH", Discount: tasks.Discount{Percent: 10}, Target: tasks.Target{Vendors: []string{"V"}},
		StartsAt: "2025-07-01T12:00:00Z", EndsAt: "2025-07-01T13:00:00Z",
	}, created)
	require.Equal(t, "1000", b.stored(t, "S1"))
	require.Equal(t, int64(900), b.effective(t, "S1", mustTime(t, "2025-07-01T12:00:00Z")))

	res, err := b.p.Sweep(ctx, mustTime(t, "2025-07-01T12:01:00Z"))
	require.NoError(t, err)
	require.Equal(t, pricing.SweepResult{Promotions: 1, Changed: 2}, res)
	require.Equal(t, "900", b.stored(t, "S1"))
	require.Equal(t, "1800", b.stored(t, "S2"))

	res, err = b.p.Sweep(ctx, mustTime(t, "2025-07-01T14:00:00Z"))
	require.NoError(t, err)
	require.Equal(t, 2, res.Changed)
	require.Equal(t, "1000", b.stored(t, "S1"))
	// The ended promotion is detached from its SKUs.
	v, err := b.p.Get(ctx, "S1", mustTime(t, "2025-07-01T14:00:00Z"))
	require.NoError(t, err)
	require.Empty(t, v.Promotions)
}

// TestSummer20JobsAgree: at each B23 probe, a transition job running at
// that instant stores the price the reader shows, and the promotion reads
// back as entered.
func TestSummer20JobsAgree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.catalog(t, "Company 123", "", nil, "LAMP")
	entered := mustTime(t, "2025-05-20T09:00:00Z")
	b.price(t, "LAMP", 10000, 1, entered)
	b.upsert(t, summer20(), entered)

	info, err := b.p.Promotion(ctx, "SUMMER20", entered)
	require.NoError(t, err)
	require.Equal(t, summer20(), *info.Payload)
	require.Equal(t, mustTime(t, "2025-05-31T22:00:00Z"), info.StartsAt)
	require.Equal(t, mustTime(t, "2025-06-30T22:00:00Z"), info.EndsAt)
	require.Equal(t, "scheduled", info.State)
	require.Equal(t, int64(1), info.SKUs)

	for _, probe := range []string{"2025-05-31T21:59:59Z", "2025-05-31T22:00:00Z", "2025-06-30T21:59:59Z", "2025-06-30T22:00:00Z"} {
		now := mustTime(t, probe)
		_, err := b.p.Recompute(ctx, "SUMMER20", now, pricing.ReasonPromotionStart)
		require.NoError(t, err)
		require.Equal(t, strconv.FormatInt(b.effective(t, "LAMP", now), 10), b.stored(t, "LAMP"), probe)
	}
	require.Equal(t, "10000", b.stored(t, "LAMP"))
	info, err = b.p.Promotion(ctx, "SUMMER20", mustTime(t, "2025-06-30T22:00:00Z"))
	require.NoError(t, err)
	require.Equal(t, "ended", info.State)

	_, err = b.p.Promotion(ctx, "NOPE", entered)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestSweepRefreshAddsNewSKUs: a product indexed under a promotion's vendor
// after the promotion was computed gets it at the next refresh.
func TestSweepRefreshAddsNewSKUs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := mustTime(t, "2025-07-01T10:00:00Z")
	b.catalog(t, "V", "", nil, "OLD")
	b.price(t, "OLD", 1000, 1, now)
	_, err := b.p.Sweep(ctx, now)
	require.NoError(t, err)
	b.upsert(t, tasks.PromotionUpsertPayload{
		ID: "V10", Discount: tasks.Discount{Percent: 10}, Target: tasks.Target{Vendors: []string{"V"}},
		StartsAt: "2025-07-01", EndsAt: "2025-07-31",
	}, now)

	b.catalog(t, "V", "", nil, "NEW")
	b.price(t, "NEW", 2000, 1, now)
	require.Equal(t, int64(2000), b.effective(t, "NEW", now), "not yet targeted")

	res, err := b.p.Sweep(ctx, now.Add(time.Minute))
	require.NoError(t, err)
	require.Zero(t, res.Promotions, "refresh not due yet")
	res, err = b.p.Sweep(ctx, now.Add(pricing.DefaultRefreshInterval))
	require.NoError(t, err)
	require.Equal(t, 1, res.Promotions)
	require.Equal(t, 1, res.Changed)
	require.Equal(t, int64(1800), b.effective(t, "NEW", now))
	ev := b.events(t)
	require.Equal(t, pricing.ReasonRefresh, ev[len(ev)-1].Reason)

	// Ended promotions leave the live set: later refreshes skip them.
	end := mustTime(t, "2025-08-01T01:00:00Z")
	_, err = b.p.Sweep(ctx, end)
	require.NoError(t, err)
	res, err = b.p.Sweep(ctx, end.Add(pricing.DefaultRefreshInterval))
	require.NoError(t, err)
	require.Zero(t, res.Promotions)
}
