package catalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

const (
	merchantTSV   = "testdata/merchant.tsv"
	merchantXML   = "testdata/merchant.xml"
	productsJSONL = "testdata/products.jsonl"
)

func TestMerchantReaders(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct{ format, path string }{
		{tasks.FormatMerchantTSV, merchantTSV}, {tasks.FormatMerchantXML, merchantXML},
	} {
		recs := readFile(t, tc.format, tc.path)
		require.Len(t, recs, 5, tc.path)
		mug := recs[0].Product
		require.Nil(t, recs[0].Reject)
		require.Equal(t, "MUG-BLU", mug.SKU)
		require.Equal(t, "Stoneware mug, 350 ml & dishwasher safe", mug.Description)
		require.Equal(t, int64(1500), mug.Price)
		require.Equal(t, int64(1250), mug.Sale)
		require.Equal(t, "USD", mug.Currency)
		require.Equal(t, time.Date(2026, 2, 24, 10, 7, 0, 0, time.UTC), mug.SaleStart, "offset applied")
		require.Equal(t, time.Date(2026, 2, 28, 22, 7, 0, 0, time.UTC), mug.SaleEnd)
		require.Equal(t, "in_stock", mug.Availability)
		require.Equal(t, "Home & Garden > Kitchen", mug.ProductType)
		require.Equal(t, int64(12), mug.Quantity)
		require.Equal(t, "out_of_stock", recs[1].Product.Availability)
		require.Equal(t, int64(750), recs[2].Product.Price)
		require.False(t, recs[2].Product.HasQuantity)

		require.NotNil(t, recs[3].Reject, tc.path)
		require.Equal(t, "price", recs[3].Reject.Field)
		require.NotNil(t, recs[4].Reject, tc.path)
		require.Equal(t, "sale_price_effective_date", recs[4].Reject.Field)
		require.Contains(t, recs[4].Reject.Reason, "zone offset")
	}
	tsv := readFile(t, tasks.FormatMerchantTSV, merchantTSV)
	xml := readFile(t, tasks.FormatMerchantXML, merchantXML)
	require.Equal(t, []int{2, 3, 4, 5, 6}, rowsOf(tsv), "TSV rows are lines, header = 1")
	require.Equal(t, []int{1, 2, 3, 4, 5}, rowsOf(xml), "XML rows are item indexes")
}

func rowsOf(recs []Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.Row)
	}
	return out
}

func TestMerchantXMLBrokenMidFeed(t *testing.T) {
	t.Parallel()

	feed := `<rss xmlns:g="http://base.google.com/ns/1.0"><channel>` +
		`<item><g:id>A</g:id><title>A</title><g:price>1.00 EUR</g:price></item>` +
		`<item><g:id>B</g:id><title>B` + "\xff" + `</title><g:price>1.00 EUR</g:price></item>` +
		`<item><g:id>C</g:id><title>C</title><g:price>1.00 EUR</g:price></item></channel></rss>`
	r, err := NewReader(tasks.FormatMerchantXML, strings.NewReader(feed), ParseOptions{})
	require.NoError(t, err)
	rec, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "A", rec.Product.SKU)
	rec, err = r.Next()
	require.NoError(t, err)
	require.NotNil(t, rec.Reject)
	require.Equal(t, 2, rec.Row)
	require.Equal(t, "xml", rec.Reject.Field)
	_, err = r.Next()
	require.Error(t, err, "the rest of a broken XML feed cannot be read")
}

func TestJSONLReader(t *testing.T) {
	t.Parallel()

	recs := readFile(t, tasks.FormatJSONL, productsJSONL)
	require.Equal(t, []int{1, 2, 4, 5, 6, 7, 8, 9}, rowsOf(recs), "line numbers; the blank line 3 is no item")
	mug := recs[0].Product
	require.Nil(t, recs[0].Reject)
	require.Equal(t, []string{"mugs", "blue"}, mug.Tags)
	require.Equal(t, int64(1250), mug.Sale)
	require.Equal(t, int64(1500), recs[1].Product.Price, "a JSON number price")
	require.Equal(t, int64(0), recs[1].Product.Quantity)
	require.True(t, recs[1].Product.HasQuantity)
	require.Nil(t, recs[2].Reject)

	fields := map[int]string{}
	for _, r := range recs[3:] {
		require.NotNil(t, r.Reject, "row %d", r.Row)
		fields[r.Row] = r.Reject.Field
	}
	require.Equal(t, map[int]string{5: "price", 6: "line", 7: "sku", 8: "quantity", 9: "line"}, fields)

	long := `{"sku":"X","title":"` + strings.Repeat("a", maxJSONLine) + `","price":"1"}` + "\n" +
		`{"sku":"Y","title":"Y","price":"1"}`
	recs = readAll(t, tasks.FormatJSONL, long)
	require.Len(t, recs, 2)
	require.NotNil(t, recs[0].Reject)
	require.Equal(t, "Y", recs[1].Product.SKU)
	require.Equal(t, 2, recs[1].Row)
}

func TestMerchantTSVAndXMLSameCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	catalogs := map[string]map[string]Product{}
	for _, tc := range []struct{ format, path string }{
		{tasks.FormatMerchantTSV, merchantTSV}, {tasks.FormatMerchantXML, merchantXML},
	} {
		b := setup(t, Options{})
		rep := b.importFeed(t, RunSpec{RunID: "m", Source: tc.path, Format: tc.format, Supplier: "acme"})
		require.Equal(t, 3, rep.Created)
		require.Equal(t, 2, rep.RejectedCount)
		got := map[string]Product{}
		for _, sku := range []string{"MUG-BLU", "MUG-RED", "TEA-1"} {
			p, err := b.c.Product(ctx, sku)
			require.NoError(t, err)
			got[sku] = p
		}
		catalogs[tc.format] = got

		prices, stock := b.followUps()
		require.Len(t, prices, 3)
		require.Len(t, stock, 2, "TEA-1 carries no quantity")
		mug := prices[0]
		require.Equal(t, "MUG-BLU", mug.SKU)
		require.Equal(t, int64(1500), mug.Amount)
		require.Equal(t, int64(1250), *mug.SaleAmount)
		require.Equal(t, "2026-02-24T10:07:00Z", mug.SaleStartsAt)
		require.Equal(t, "2026-02-28T22:07:00Z", mug.SaleEndsAt)
		require.NoError(t, mug.Validate())
	}
	require.Equal(t, catalogs[tasks.FormatMerchantTSV], catalogs[tasks.FormatMerchantXML])

	// The same products from the other format change nothing.
	b := setup(t, Options{})
	b.importFeed(t, RunSpec{RunID: "tsv", Source: merchantTSV, Format: tasks.FormatMerchantTSV, Supplier: "acme"})
	rep := b.importFeed(t, RunSpec{RunID: "xml", Source: merchantXML, Format: tasks.FormatMerchantXML, Supplier: "acme"})
	require.Equal(t, 3, rep.Unchanged)
	require.Zero(t, rep.Created+rep.Updated)
}
