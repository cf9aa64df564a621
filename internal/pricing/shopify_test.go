package pricing_test

import (
	"context"
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

// shopifyRow is one variant's prices from a Shopify product export.
type shopifyRow struct {
	sku       string
	handle    string
	options   []string
	price     int64
	compareAt int64 // 0 when empty
}

// readShopifyPrices reads a Shopify product CSV. The sample exports carry no
// Variant SKU, so a variant is named by its handle and option value.
func readShopifyPrices(t *testing.T, path string) []shopifyRow {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	var rows []shopifyRow
	for _, r := range recs[1:] {
		sku := r[col["Variant SKU"]]
		if sku == "" {
			sku = r[col["Handle"]] + "/" + strings.ToLower(r[col["Option1 Value"]])
		}
		row := shopifyRow{sku: sku, handle: r[col["Handle"]], price: cents(t, r[col["Variant Price"]])}
		for _, c := range []string{"Option1 Value", "Option2 Value", "Option3 Value"} {
			if v := r[col[c]]; v != "" && v != "Default Title" {
				row.options = append(row.options, v)
			}
		}
		if v := r[col["Variant Compare At Price"]]; v != "" {
			row.compareAt = cents(t, v)
		}
		rows = append(rows, row)
	}
	return rows
}

func cents(t *testing.T, v string) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err)
	return int64(f*100 + 0.5)
}

// TestShopifyCompareAtPrices: the real home-and-garden export, sent as the
// catalog sends it (prices:update-batch; compare-at price as the base,
// price as the sale price), reads back with compare-at as base and the sale
// price as effective.
func TestShopifyCompareAtPrices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := readShopifyPrices(t, "../../testdata/shopify/home-and-garden.csv")
	require.Len(t, rows, 21)

	var batch tasks.PriceUpdateBatchPayload
	for _, r := range rows {
		u := tasks.PriceUpdatePayload{SKU: r.sku, Amount: r.price, Currency: "USD", Version: 1, Source: "shopify"}
		if r.compareAt > r.price {
			sale := r.price
			u.Amount, u.SaleAmount = r.compareAt, &sale
		}
		batch.Updates = append(batch.Updates, u)
	}
	require.NoError(t, batch.Validate())
	_, err := b.p.ApplyBatch(context.Background(), batch.Updates, t0)
	require.NoError(t, err)

	withSale := 0
	for _, r := range rows {
		v, err := b.p.Get(context.Background(), r.sku, time.Now())
		require.NoError(t, err)
		if r.compareAt > r.price {
			withSale++
			require.Equal(t, r.compareAt, v.Base, r.sku)
			require.Equal(t, r.price, v.Effective, r.sku)
			require.Equal(t, "sale", v.Source, r.sku)
		} else {
			require.Equal(t, r.price, v.Base, r.sku)
			require.Equal(t, r.price, v.Effective, r.sku)
		}
	}
	require.Equal(t, 16, withSale)
	v, err := b.p.Get(context.Background(), "cream-sofa/default title", t0)
	require.NoError(t, err)
	require.Equal(t, int64(75000), v.Base)
	require.Equal(t, int64(50000), v.Effective)
}
