package pricing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/pricing"
)

func ptr(v int64) *int64 { return &v }

func TestComputeRule(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	nowMS := now.UnixMilli()
	open := func(t pricing.Term) pricing.Term {
		t.StartMS, t.EndMS = nowMS-1000, nowMS+1000
		return t
	}
	tests := []struct {
		name       string
		rec        pricing.Record
		terms      []pricing.Term
		wantAmount int64
		wantSource string
		wantPromo  string
	}{
		{name: "BaseOnly", rec: pricing.Record{Base: 1999, Currency: "EUR"}, wantAmount: 1999, wantSource: "base"},
		{
			name: "SaleInWindow", rec: pricing.Record{Base: 7500, Currency: "EUR", Sale: ptr(5999)},
			wantAmount: 5999, wantSource: "sale",
		},
		{
			name: "SaleEnded", rec: pricing.Record{Base: 7500, Currency: "EUR", Sale: ptr(5999), SaleEndMS: nowMS},
			wantAmount: 7500, wantSource: "base",
		},
		{
			name: "SaleNotStarted", rec: pricing.Record{Base: 7500, Currency: "EUR", Sale: ptr(5999), SaleStartMS: nowMS + 1},
			wantAmount: 7500, wantSource: "base",
		},
		{
			name: "PercentRoundsDiscountHalfUp", rec: pricing.Record{Base: 199, Currency: "EUR"},
			// 12.5 % of 199 = 24.875 -> 25 off.
			terms:      []pricing.Term{open(pricing.Term{ID: "a", BasisPoints: 1250})},
			wantAmount: 174, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "PercentHalfExactly", rec: pricing.Record{Base: 10, Currency: "EUR"},
			// 15 % of 10 = 1.5 -> 2 off.
			terms:      []pricing.Term{open(pricing.Term{ID: "a", BasisPoints: 1500})},
			wantAmount: 8, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "LowestWins", rec: pricing.Record{Base: 10000, Currency: "EUR", Sale: ptr(8500)},
			terms: []pricing.Term{
				open(pricing.Term{ID: "ten", BasisPoints: 1000}),
				open(pricing.Term{ID: "twenty", BasisPoints: 2000}),
				open(pricing.Term{ID: "fixed", Amounts: map[string]int64{"EUR": 1500}}),
			},
			wantAmount: 8000, wantSource: "promotion", wantPromo: "twenty",
		},
		{
			name: "SaleBeatsWeakPromotion", rec: pricing.Record{Base: 10000, Currency: "EUR", Sale: ptr(7000)},
			terms:      []pricing.Term{open(pricing.Term{ID: "ten", BasisPoints: 1000})},
			wantAmount: 7000, wantSource: "sale",
		},
		{
			name: "TieByPriority", rec: pricing.Record{Base: 1000, Currency: "EUR"},
			terms: []pricing.Term{
				open(pricing.Term{ID: "a", BasisPoints: 1000, Priority: 1}),
				open(pricing.Term{ID: "b", Amounts: map[string]int64{"EUR": 100}, Priority: 5}),
			},
			wantAmount: 900, wantSource: "promotion", wantPromo: "b",
		},
		{
			name: "TieByID", rec: pricing.Record{Base: 1000, Currency: "EUR"},
			terms: []pricing.Term{
				open(pricing.Term{ID: "b", BasisPoints: 1000}),
				open(pricing.Term{ID: "a", BasisPoints: 1000}),
			},
			wantAmount: 900, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "PromotionTiesSale", rec: pricing.Record{Base: 1000, Currency: "EUR", Sale: ptr(900)},
			terms:      []pricing.Term{open(pricing.Term{ID: "a", BasisPoints: 1000})},
			wantAmount: 900, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "FixedOtherCurrencyDoesNotApply", rec: pricing.Record{Base: 1000, Currency: "USD"},
			terms:      []pricing.Term{open(pricing.Term{ID: "a", Amounts: map[string]int64{"EUR": 100}})},
			wantAmount: 1000, wantSource: "base",
		},
		{
			name: "NeverBelowZero", rec: pricing.Record{Base: 300, Currency: "EUR"},
			terms:      []pricing.Term{open(pricing.Term{ID: "a", Amounts: map[string]int64{"EUR": 500}})},
			wantAmount: 0, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "Floor", rec: pricing.Record{Base: 1000, Currency: "EUR"},
			terms: []pricing.Term{open(pricing.Term{
				ID: "a", BasisPoints: 5000, Floors: map[string]int64{"EUR": 700},
			})},
			wantAmount: 700, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "FloorNeverRaises", rec: pricing.Record{Base: 500, Currency: "EUR"},
			terms: []pricing.Term{open(pricing.Term{
				ID: "a", BasisPoints: 5000, Floors: map[string]int64{"EUR": 700},
			})},
			wantAmount: 500, wantSource: "promotion", wantPromo: "a",
		},
		{
			name: "WindowEndExclusive", rec: pricing.Record{Base: 1000, Currency: "EUR"},
			terms:      []pricing.Term{{ID: "a", BasisPoints: 1000, StartMS: nowMS - 10, EndMS: nowMS}},
			wantAmount: 1000, wantSource: "base",
		},
		{
			name: "WindowStartInclusive", rec: pricing.Record{Base: 1000, Currency: "EUR"},
			terms:      []pricing.Term{{ID: "a", BasisPoints: 1000, StartMS: nowMS, EndMS: nowMS + 1}},
			wantAmount: 900, wantSource: "promotion", wantPromo: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := pricing.Compute(&tt.rec, tt.terms, now)
			require.Equal(t, tt.wantAmount, q.Amount)
			require.Equal(t, tt.wantSource, q.Source)
			require.Equal(t, tt.wantPromo, q.PromotionID())
		})
	}
}

func BenchmarkEffectivePrice(b *testing.B) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	nowMS := now.UnixMilli()
	rec := pricing.Record{SKU: "MUG", Base: 1999, Currency: "EUR", Sale: ptr(1799)}
	terms := []pricing.Term{
		{ID: "a", BasisPoints: 1000, StartMS: nowMS - 1, EndMS: nowMS + 1, Priority: 1},
		{ID: "b", Amounts: map[string]int64{"EUR": 300}, StartMS: nowMS - 1, EndMS: nowMS + 1},
		{ID: "c", BasisPoints: 2500, StartMS: nowMS + 1, EndMS: nowMS + 2},
		{ID: "d", BasisPoints: 1500, Floors: map[string]int64{"EUR": 1700}, StartMS: nowMS - 1, EndMS: nowMS + 1},
	}
	b.ReportAllocs()
	var q pricing.Quote
	for b.Loop() {
		q = pricing.Compute(&rec, terms, now)
	}
	require.Equal(b, int64(1699), q.Amount)
}
