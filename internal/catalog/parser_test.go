package catalog

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

const (
	apparelCSV = "../../testdata/shopify/apparel.csv"
	homeCSV    = "../../testdata/shopify/home-and-garden.csv"
)

// readAll reads a whole feed into its records.
func readAll(t testing.TB, format, feed string) []Record {
	t.Helper()
	r, err := NewReader(format, strings.NewReader(feed), ParseOptions{Supplier: "acme", Currency: "EUR"})
	require.NoError(t, err)
	var out []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec)
	}
}

func readFile(t *testing.T, format, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return readAll(t, format, string(data))
}

func TestShopifyRealExports(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		path     string
		variants int
		sales    int
	}{{apparelCSV, 22, 0}, {homeCSV, 21, 16}} {
		recs := readFile(t, tasks.FormatShopifyCSV, tc.path)
		require.Len(t, recs, tc.variants, tc.path)

		skus := map[string]bool{}
		sales := 0
		for i, r := range recs {
			require.Nil(t, r.Reject, "%s row %d: %+v", tc.path, r.Row, r.Reject)
			require.False(t, r.Skipped)
			require.Equal(t, i+2, r.Row, "one line per record, header = 1")
			p := r.Product
			require.NotEmpty(t, p.Title, p.SKU)
			require.NotEmpty(t, p.Vendor, p.SKU)
			require.True(t, p.HasQuantity)
			require.False(t, skus[p.SKU], "duplicate derived sku %s", p.SKU)
			skus[p.SKU] = true
			if p.HasSale {
				sales++
				require.Less(t, p.Sale, p.Price)
			}
		}
		require.Equal(t, tc.sales, sales, tc.path)
	}
}

func TestShopifyContinuationAndDerivedSKU(t *testing.T) {
	t.Parallel()

	recs := readFile(t, tasks.FormatShopifyCSV, apparelCSV)
	byRow := map[string]Product{}
	for _, r := range recs {
		byRow[r.Product.SKU] = r.Product
	}
	med, ok := byRow["classic-varsity-top-medium"]
	require.True(t, ok, "derived from handle and option value")
	require.Equal(t, "Classic Varsity Top", med.Title, "inherited from the product's first row")
	require.Equal(t, "partners-demo", med.Vendor)
	require.Equal(t, []string{"women"}, med.Tags)
	require.Equal(t, int64(6000), med.Price)
	require.Contains(t, byRow, "ocean-blue-shirt", "Default Title adds nothing")

	home := readFile(t, tasks.FormatShopifyCSV, homeCSV)
	var pot Product
	for _, r := range home {
		if r.Product.SKU == "copper-light" {
			pot = r.Product
		}
	}
	require.True(t, pot.HasSale)
	require.Equal(t, int64(7500), pot.Price, "compare-at is the regular price")
	require.Equal(t, int64(5999), pot.Sale)
}

func TestShopifyRows(t *testing.T) {
	t.Parallel()

	head := "Handle,Title,Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty,Image Src\n"
	feed := head +
		"mug,Mug,Acme,Color,Blue,,9.99,3,https://img/1\n" + // 2
		"mug,,,,,,,,https://img/2\n" + // 3: image-only
		"mug,,,,Red,,9.99,-1,\n" + // 4: negative stock
		"mug,,,,Green,,\"12,99€\",1,\n" + // 5: bad price
		",Cup,Acme,,,,1,1,\n" + // 6: no sku, no handle
		"cup,Cup,Acme,,,mug-blue,1,1,\n" + // 7: sku of row 2; duplicates are found by the run
		"cup,\"Multi\nline\",Acme,,,CUP-2,2.5,0,\n" + // 8-9
		"short,row\n" + // 10
		"tea,Tea,Acme,,,TEA,2.999,1,\n" // 11: 3 decimals
	recs := readAll(t, tasks.FormatShopifyCSV, feed)
	require.Len(t, recs, 9)

	type want struct {
		row     int
		field   string
		skipped bool
	}
	wants := []want{
		{2, "", false}, {3, "", true}, {4, colQty, false}, {5, colPrice, false},
		{6, colSKU, false}, {7, "", false}, {8, "", false}, {10, "columns", false}, {11, colPrice, false},
	}
	for i, w := range wants {
		r := recs[i]
		require.Equal(t, w.row, r.Row, "record %d", i)
		require.Equal(t, w.skipped, r.Skipped, "row %d", w.row)
		if w.field == "" {
			require.Nil(t, r.Reject, "row %d", w.row)
			continue
		}
		require.NotNil(t, r.Reject, "row %d", w.row)
		require.Equal(t, w.field, r.Reject.Field, "row %d", w.row)
		require.Equal(t, w.row, r.Reject.Row)
	}
	require.Equal(t, "mug-blue", recs[0].Product.SKU)
	require.Equal(t, int64(999), recs[0].Product.Price)
	require.Contains(t, recs[3].Reject.Reason, "12,99€")
	require.Equal(t, "Multi\nline", recs[6].Product.Title)
	require.Equal(t, int64(250), recs[6].Product.Price)
}

func TestShopifyInvalidUTF8AndBOM(t *testing.T) {
	t.Parallel()

	feed := "\xEF\xBB\xBFHandle,Title,Variant Price\nok,OK,1\nbad,B\xffad,1\n"
	recs := readAll(t, tasks.FormatShopifyCSV, feed)
	require.Len(t, recs, 2)
	require.Nil(t, recs[0].Reject, "the BOM does not hide the Handle column")
	require.Equal(t, "ok", recs[0].Product.SKU)
	require.Equal(t, &tasks.RowError{Row: 3, Field: "Title", Reason: "is not valid UTF-8"}, recs[1].Reject)

	_, err := NewReader(tasks.FormatShopifyCSV, strings.NewReader("Title,Price\n"), ParseOptions{})
	require.ErrorIs(t, err, ErrHeader)
}

func TestDeriveSKU(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		handle string
		opts   []string
		want   string
	}{
		{"clay-plant-pot", []string{"Regular"}, "clay-plant-pot-regular"},
		{"tee", []string{"X Large", "Navy / Blue"}, "tee-x-large-navy-blue"},
		{"Été", []string{"Größe 42"}, "été-größe-42"},
	} {
		require.Equal(t, tc.want, DeriveSKU(tc.handle, tc.opts))
	}
	long := DeriveSKU(strings.Repeat("a", 300), nil)
	require.LessOrEqual(t, len(long), 200)
	require.Equal(t, long, DeriveSKU(strings.Repeat("a", 300), nil))
	require.NotEqual(t, long, DeriveSKU(strings.Repeat("a", 301), nil))
}

func TestParseAmount(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"12.99", "EUR", 1299, true}, {"50", "EUR", 5000, true}, {"9.9", "EUR", 990, true},
		{"1.50", "JPY", 0, false}, {"1500", "JPY", 1500, true}, {"1.234", "KWD", 1234, true},
		{"12.990", "EUR", 1299, true}, {"12,99€", "EUR", 0, false}, {"1,299.00", "EUR", 0, false},
		{"-1", "EUR", 0, false}, {"1e3", "EUR", 0, false}, {".5", "EUR", 0, false},
		{"5.", "EUR", 0, false}, {"", "EUR", 0, false}, {"99999999999999999999", "EUR", 0, false},
	} {
		got, err := parseAmount(tc.in, tc.cur)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}
