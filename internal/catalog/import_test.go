package catalog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testBundle is a catalog on its own key prefix.
type testBundle struct {
	c  *Catalog
	st *store.Store

	mu      sync.Mutex
	results []ChunkResult // every applied chunk, in order of application
}

func setup(t *testing.T, o Options) *testBundle {
	t.Helper()
	st := store.New(testenv.Redis(t), testenv.Prefix(t), store.Lifetimes{})
	if o.WorkDir == "" {
		o.WorkDir = t.TempDir()
	}
	if o.PollInterval == 0 {
		o.PollInterval = 5 * 1e6 // 5ms
	}
	return &testBundle{c: New(st, o), st: st}
}

// importFeed runs a whole import in process: chunks are applied as they
// are enqueued, as one worker would, and fan-in happens on the last one.
func (b *testBundle) importFeed(t *testing.T, spec RunSpec) tasks.CatalogImportResult {
	t.Helper()
	ctx := context.Background()
	run, err := b.c.Begin(ctx, spec)
	require.NoError(t, err)
	err = b.c.Split(ctx, run, func(ctx context.Context, id string, n int) error {
		b.applyChunk(t, id, n)
		return nil
	})
	require.NoError(t, err)
	rep, _, err := b.c.Wait(ctx, spec.RunID)
	require.NoError(t, err)
	return rep
}

func (b *testBundle) applyChunk(t *testing.T, id string, n int) {
	t.Helper()
	ctx := context.Background()
	res, err := b.c.ApplyChunk(ctx, id, n)
	require.NoError(t, err)
	b.mu.Lock()
	b.results = append(b.results, res)
	b.mu.Unlock()
	last, err := b.c.ChunkDone(ctx, res)
	require.NoError(t, err)
	if last {
		_, _, err := b.c.Finalize(ctx, id)
		require.NoError(t, err)
	}
}

func (b *testBundle) followUps() (prices []tasks.PriceUpdatePayload, stock []tasks.InventorySetPayload) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.results {
		prices = append(prices, r.Prices...)
		stock = append(stock, r.Stock...)
	}
	b.results = nil
	return prices, stock
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestImportShopifyRealExports(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{ChunkSize: 7})

	for i, tc := range []struct {
		path             string
		variants, onSale int
	}{{apparelCSV, 22, 0}, {homeCSV, 21, 16}} {
		spec := RunSpec{RunID: fmt.Sprintf("real-%d", i), Source: tc.path, Format: tasks.FormatShopifyCSV,
			Supplier: "shopify-" + filepath.Base(tc.path), Currency: "USD", Full: true}
		rep := b.importFeed(t, spec)
		require.Equal(t, StatusCompleted, rep.Status, "%+v", rep)
		require.Equal(t, tc.variants, rep.Rows)
		require.Equal(t, tc.variants, rep.Created, "every variant imported")
		require.Empty(t, rep.Rejected)
		require.Zero(t, rep.Skipped)

		prices, stock := b.followUps()
		require.Len(t, prices, tc.variants, "new products reach the price pipeline")
		require.Len(t, stock, tc.variants, "the feed carries quantities")
		sales := 0
		for _, p := range prices {
			if p.SaleAmount != nil {
				sales++
				require.Less(t, *p.SaleAmount, p.Amount)
			}
			require.NoError(t, p.Validate())
		}
		require.Equal(t, tc.onSale, sales)

		spec.RunID += "-again"
		again := b.importFeed(t, spec)
		require.Equal(t, tc.variants, again.Unchanged, "%+v", again)
		require.Zero(t, again.Created+again.Updated+again.Deactivated)
		prices, stock = b.followUps()
		require.Empty(t, prices)
		require.Empty(t, stock)
	}

	p, err := b.c.Product(context.Background(), "copper-light")
	require.NoError(t, err)
	require.Equal(t, "Copper Light", p.Title)
	require.Equal(t, int64(7500), p.Price)
	require.Equal(t, int64(5999), p.Sale)
	require.Equal(t, "USD", p.Currency)
	require.True(t, p.Active)
	require.Equal(t, []string{"Copper", "Bedroom"}, p.Tags)

	_, err = b.c.Product(context.Background(), "no-such-sku")
	require.ErrorIs(t, err, store.ErrNotFound)

	ctx := context.Background()
	members, err := b.st.RDB.SMembers(ctx, b.st.TagIndexKey("bedroom")).Result()
	require.NoError(t, err)
	require.Contains(t, members, "copper-light")
	n, err := b.st.RDB.SCard(ctx, b.st.AllSKUsKey()).Result()
	require.NoError(t, err)
	require.Equal(t, int64(43), n)
}

// b22Feed is scenario B22's catalog.csv: a header and 10,000 rows of 8
// columns, with defects on lines 17, 500, 501, 2345, 7777 and 9999.
func b22Feed() string {
	var b strings.Builder
	b.WriteString("Handle,Title,Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty\n")
	for line := 2; line <= 10001; line++ {
		sku, title, price, qty, handle := fmt.Sprintf("SKU-%05d", line), fmt.Sprintf("Item %d", line),
			fmt.Sprintf("%d.%02d", line%90+1, line%100), fmt.Sprint(line%40), fmt.Sprintf("item-%d", line)
		extra := ""
		switch line {
		case 17:
			title = "Item \xff 17"
		case 500:
			price = `"12,99€"`
		case 501:
			sku, handle = "", ""
		case 2345:
			sku = "SKU-00012"
		case 7777:
			extra = ",surplus"
		case 9999:
			qty = "-3"
		}
		fmt.Fprintf(&b, "%s,%s,Acme,Title,Default Title,%s,%s,%s%s\n", handle, title, sku, price, qty, extra)
	}
	return b.String()
}

func TestImportB22MalformedRows(t *testing.T) {
	t.Parallel()
	// Chunks of 499 products put lines 2-500 in chunk 1: line 500 is its
	// last row and line 501 the first of chunk 2.
	b := setup(t, Options{ChunkSize: 499})
	path := writeFile(t, "catalog.csv", b22Feed())
	spec := RunSpec{RunID: "b22-1", Source: path, Format: tasks.FormatShopifyCSV, Supplier: "acme", Full: true}

	// The worker of chunk 3 is killed mid-chunk: half its products are
	// written, the chunk is not marked done, and its task runs again.
	ctx := context.Background()
	run, err := b.c.Begin(ctx, spec)
	require.NoError(t, err)
	err = b.c.Split(ctx, run, func(ctx context.Context, id string, n int) error {
		if n == 3 {
			data, err := b.st.RDB.Get(ctx, b.c.chunkKey(id, n)).Result()
			require.NoError(t, err)
			ps, err := decodeChunk(data)
			require.NoError(t, err)
			var partial ChunkResult
			require.NoError(t, b.c.upsert(ctx, id, run.Version, ps[:200], &partial))
			require.Equal(t, 200, partial.Created)
		}
		b.applyChunk(t, id, n)
		b.applyChunk(t, id, n) // delivered twice: applied once
		return nil
	})
	require.NoError(t, err)
	rep, _, err := b.c.Wait(ctx, spec.RunID)
	require.NoError(t, err)

	wantRows := []int{17, 500, 501, 2345, 7777, 9999}
	check := func(rep tasks.CatalogImportResult) {
		t.Helper()
		require.Equal(t, StatusCompletedWithErrors, rep.Status)
		require.Equal(t, 10000, rep.Rows)
		require.Equal(t, 6, rep.RejectedCount)
		var rows []int
		for _, r := range rep.Rejected {
			rows = append(rows, r.Row)
			require.NotEmpty(t, r.Reason)
			require.NotEmpty(t, r.Field)
		}
		require.Equal(t, wantRows, rows)
		byRow := map[int]tasks.RowError{}
		for _, r := range rep.Rejected {
			byRow[r.Row] = r
		}
		require.Equal(t, "Title", byRow[17].Field)
		require.Contains(t, byRow[17].Reason, "UTF-8")
		require.Equal(t, colPrice, byRow[500].Field)
		require.Contains(t, byRow[500].Reason, "12,99€")
		require.Equal(t, colSKU, byRow[501].Field)
		require.Equal(t, "duplicates the SKU of row 12", byRow[2345].Reason)
		require.Equal(t, colSKU, byRow[2345].Field)
		require.Equal(t, "has 9 fields, the header has 8", byRow[7777].Reason)
		require.Equal(t, colQty, byRow[9999].Field)
		require.Contains(t, byRow[9999].Reason, "negative")
	}
	check(rep)
	require.Equal(t, 9994, rep.Created, "every valid row upserted exactly once")
	require.Zero(t, rep.Updated+rep.Unchanged)
	prices, _ := b.followUps()
	require.Len(t, prices, 9994, "one price update per new product, the killed chunk's too")

	n, err := b.st.RDB.SCard(ctx, b.st.SupplierIndexKey("acme")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(9994), n)

	spec.RunID = "b22-2"
	again := b.importFeed(t, spec)
	check(again)
	require.Equal(t, 9994, again.Unchanged)
	require.Zero(t, again.Created+again.Updated+again.Deactivated, "the second run changes nothing")

	stored, err := b.c.Report(ctx, "b22-1")
	require.NoError(t, err)
	require.Equal(t, rep, stored, "the report is kept by run id")
}

func TestImportGeneratedFeedSkipsImageRows(t *testing.T) {
	t.Parallel()
	var feed bytes.Buffer
	require.NoError(t, GenerateShopifyFeed(&feed, 1000))
	b := setup(t, Options{})
	rep := b.importFeed(t, RunSpec{RunID: "gen", Source: writeFile(t, "gen.csv", feed.String()),
		Format: tasks.FormatShopifyCSV, Supplier: "gen"})
	require.Equal(t, StatusCompleted, rep.Status, "image-only rows are no errors")
	require.Equal(t, 1000, rep.Rows)
	require.Equal(t, 19, rep.Skipped, "one image-only row after every 25th product")
	require.Equal(t, 1000-19, rep.Created)
	require.Empty(t, rep.Rejected)
}
