package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func TestPriceUpdateCommand(t *testing.T) {
	t.Parallel()
	task, err := priceUpdateCommand([]string{
		"--sku", "MUG", "--amount", "7500", "--currency", "eur", "--version", "7", "--sale-amount", "5990",
	})
	require.NoError(t, err)
	require.Equal(t, tasks.TypePriceUpdate, task.Type())
	p, err := tasks.Decode[tasks.PriceUpdatePayload](task.Payload())
	require.NoError(t, err)
	require.Equal(t, "MUG", p.SKU)
	require.Equal(t, int64(7500), p.Amount)
	require.Equal(t, "EUR", p.Currency)
	require.Equal(t, int64(7), p.Version)
	require.Equal(t, int64(5990), *p.SaleAmount)

	jpy, err := priceUpdateCommand([]string{"--sku", "CUP", "--amount", "1200", "--currency", "JPY"})
	require.NoError(t, err)
	pj, err := tasks.Decode[tasks.PriceUpdatePayload](jpy.Payload())
	require.NoError(t, err)
	require.Equal(t, int64(1200), pj.Amount)
	require.Positive(t, pj.Version, "version defaults to now")

	for _, args := range [][]string{
		{"--sku", "MUG", "--amount", "19.99", "--currency", "EUR"},
		{"--sku", "MUG", "--amount", "-1", "--currency", "EUR"},
		{"--sku", "MUG", "--amount", "1", "--currency", "XXX"},
		{"--amount", "1", "--currency", "EUR"},
	} {
		_, err := priceUpdateCommand(args)
		require.Error(t, err, args)
	}
}

func TestPromotionCommand(t *testing.T) {
	t.Parallel()
	task, err := promotionCommand([]string{
		"upsert", "--id", "SUMMER20", "--name", "Summer", "--percent", "20",
		"--vendors", "Company 123, Rustic LTD", "--tags", "sofa",
		"--starts-at", "2025-06-01T00:00:00", "--ends-at", "2025-06-30", "--time-zone", "Europe/Berlin",
		"--priority", "3", "--floor", "EUR=100", "--version", "2",
	})
	require.NoError(t, err)
	require.Equal(t, tasks.TypePromotionUpsert, task.Type())
	p, err := tasks.Decode[tasks.PromotionUpsertPayload](task.Payload())
	require.NoError(t, err)
	require.InDelta(t, 20.0, p.Discount.Percent, 0)
	require.Equal(t, []string{"Company 123", "Rustic LTD"}, p.Target.Vendors)
	require.Equal(t, map[string]int64{"EUR": 100}, p.FloorAmounts)
	start, end, err := p.Window()
	require.NoError(t, err)
	require.Equal(t, "2025-05-31T22:00:00Z", start.Format("2006-01-02T15:04:05Z07:00"))
	require.Equal(t, "2025-06-30T22:00:00Z", end.Format("2006-01-02T15:04:05Z07:00"))

	fixed, err := promotionCommand([]string{
		"upsert", "--id", "FIVE", "--amount", "EUR=500", "--amount", "usd=650", "--skus", "A,B",
		"--starts-at", "2025-06-01", "--ends-at", "2025-06-02",
	})
	require.NoError(t, err)
	pf, err := tasks.Decode[tasks.PromotionUpsertPayload](fixed.Payload())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"EUR": 500, "USD": 650}, pf.Discount.Amounts)

	cancel, err := promotionCommand([]string{"cancel", "--id", "FIVE"})
	require.NoError(t, err)
	require.Equal(t, tasks.TypePromotionCancel, cancel.Type())

	for _, args := range [][]string{
		{},
		{"delete", "--id", "X"},
		{"upsert", "--id", "X", "--percent", "20", "--starts-at", "2025-06-01", "--ends-at", "2025-06-02"},
		{"upsert", "--id", "X", "--skus", "A", "--starts-at", "2025-06-01", "--ends-at", "2025-06-02"},
		{"upsert", "--id", "X", "--percent", "20", "--skus", "A", "--starts-at", "2025-06-02", "--ends-at", "2025-06-01"},
		{"cancel"},
	} {
		_, err := promotionCommand(args)
		require.Error(t, err, args)
	}
}
