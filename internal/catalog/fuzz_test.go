package catalog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/shopq/shopq/tasks"
)

// fuzzFeed reads data as a feed of format to its end and checks what every
// reader promises: it ends, rows only grow, and every product is valid.
func fuzzFeed(t *testing.T, format string, data []byte) {
	r, err := NewReader(format, bytes.NewReader(data), ParseOptions{Supplier: "fuzz", Currency: "EUR"})
	if err != nil {
		return // a header error is a fine answer
	}
	last := 0
	for i := 0; ; i++ {
		if i > len(data)+2 {
			t.Fatalf("more records than bytes: the reader does not advance")
		}
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			return
		}
		if rec.Row < last || rec.Row < 1 {
			t.Fatalf("row %d after row %d", rec.Row, last)
		}
		last = rec.Row
		if rec.Reject != nil || rec.Skipped {
			continue
		}
		p := rec.Product
		if checkSKU(p.SKU) != "" || p.Title == "" || p.Price < 0 || p.Price > tasks.MaxAmount ||
			!tasks.ValidCurrency(p.Currency) || (p.HasSale && p.Sale > p.Price) || p.Quantity < 0 {
			t.Fatalf("invalid product accepted at row %d: %+v", rec.Row, p)
		}
		pu := priceUpdate(&p, 1, "fuzz")
		if err := pu.Validate(); err != nil {
			t.Fatalf("row %d: price follow-up invalid: %v", rec.Row, err)
		}
	}
}

func seed(f *testing.F, paths ...string) {
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzShopifyCSV(f *testing.F) {
	seed(f, apparelCSV, homeCSV)
	f.Add([]byte(b22Feed()[:2000]))
	f.Add([]byte("Handle,Title,Variant Price\nh,\"t\nx\",1.00\nh,,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, tasks.FormatShopifyCSV, data) })
}

func FuzzMerchantTSV(f *testing.F) {
	seed(f, merchantTSV)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, tasks.FormatMerchantTSV, data) })
}

func FuzzMerchantXML(f *testing.F) {
	seed(f, merchantXML)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, tasks.FormatMerchantXML, data) })
}

func FuzzJSONL(f *testing.F) {
	seed(f, productsJSONL)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, tasks.FormatJSONL, data) })
}
