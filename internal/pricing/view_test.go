package pricing_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/pricing"
	"github.com/shopq/shopq/tasks"
)

func TestPriceHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t, "Company 123", "", nil, "LAMP")
	entered := mustTime(t, "2025-05-20T09:00:00Z")
	b.price(t, "LAMP", 10000, 3, entered)
	b.upsert(t, summer20(), entered)

	clock := mustTime(t, "2025-05-31T21:59:59Z")
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/prices/{sku}", pricing.HTTPHandler(b.p, func() time.Time { return clock }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(sku string) (int, pricing.PriceView) {
		t.Helper()
		res, err := http.Get(srv.URL + "/api/v1/prices/" + sku)
		require.NoError(t, err)
		defer func() { _ = res.Body.Close() }()
		var v pricing.PriceView
		if res.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(res.Body).Decode(&v))
		}
		return res.StatusCode, v
	}

	code, v := get("LAMP")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, int64(10000), v.Effective)
	require.Nil(t, v.ActivePromotion)
	require.Len(t, v.Promotions, 1)
	require.Equal(t, int64(3), v.Version)

	clock = mustTime(t, "2025-05-31T22:00:00Z")
	code, v = get("LAMP")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, pricing.PriceView{
		SKU: "LAMP", Currency: "EUR", Base: 10000, Effective: 8000, Source: "promotion", Version: 3,
		ActivePromotion: &pricing.PromotionView{
			ID: "SUMMER20", Name: "Summer 20 %", Priority: 1, Active: true, Price: ptr(8000),
			StartsAt: mustTime(t, "2025-05-31T22:00:00Z"), EndsAt: mustTime(t, "2025-06-30T22:00:00Z"),
		},
		Promotions: []pricing.PromotionView{{
			ID: "SUMMER20", Name: "Summer 20 %", Priority: 1, Active: true, Price: ptr(8000),
			StartsAt: mustTime(t, "2025-05-31T22:00:00Z"), EndsAt: mustTime(t, "2025-06-30T22:00:00Z"),
		}},
		AsOf: clock,
	}, v)

	code, _ = get("UNKNOWN")
	require.Equal(t, http.StatusNotFound, code)
}

func TestPromotionFixedAmountOtherCurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := mustTime(t, "2025-07-01T10:00:00Z")
	b.price(t, "EU", 1000, 1, now)
	_, err := b.p.Apply(t.Context(), tasks.PriceUpdatePayload{SKU: "US", Amount: 1000, Currency: "USD", Version: 1}, now)
	require.NoError(t, err)
	b.upsert(t, tasks.PromotionUpsertPayload{
		ID: "EURO", Discount: tasks.Discount{Amounts: map[string]int64{"EUR": 250}},
		Target:   tasks.Target{SKUs: []string{"EU", "US"}},
		StartsAt: "2025-07-01", EndsAt: "2025-07-01", TimeZone: "America/New_York",
	}, now)
	require.Equal(t, int64(750), b.effective(t, "EU", now))
	require.Equal(t, int64(1000), b.effective(t, "US", now))
	// The whole New York day: until 04:00 UTC the next day.
	require.Equal(t, int64(750), b.effective(t, "EU", mustTime(t, "2025-07-02T03:59:59Z")))
	require.Equal(t, int64(1000), b.effective(t, "EU", mustTime(t, "2025-07-02T04:00:00Z")))
}
