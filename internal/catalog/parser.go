package catalog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shopq/shopq/tasks"
)

// Record is one feed row read by a Reader: a valid product, a skipped row
// (not a product, e.g. a Shopify image-only row) or a rejected row.
type Record struct {
	// Row is the line where the record starts (header = 1) for CSV and TSV,
	// the 1-based item index for XML and the line number for JSON Lines.
	Row     int
	Product Product
	Skipped bool
	// Reject is set when the row is invalid; Product is then unusable.
	Reject *tasks.RowError
}

// Reader reads a feed record by record. Next returns io.EOF after the last
// record; any other error means the rest of the feed cannot be read.
type Reader interface {
	Next() (Record, error)
}

// ParseOptions tell a reader how to read a feed.
type ParseOptions struct {
	// Supplier is set on every product.
	Supplier string
	// Currency applies to prices that carry none.
	Currency string
}

// Field limits: anything larger is a broken or hostile row.
const (
	maxTextBytes  = 64 << 10
	maxShortBytes = 2048
	maxTags       = 250
)

// NewReader returns the reader of a feed format (tasks.FormatXxx). A UTF-8
// byte order mark at the start of r is dropped.
func NewReader(format string, r io.Reader, o ParseOptions) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	switch format {
	case tasks.FormatShopifyCSV:
		return newShopifyReader(br, o)
	case tasks.FormatMerchantTSV:
		return newMerchantTSVReader(br, o)
	case tasks.FormatMerchantXML:
		return newMerchantXMLReader(br, o), nil
	case tasks.FormatJSONL:
		return newJSONLReader(br, o), nil
	}
	return nil, fmt.Errorf("unknown feed format %q", format)
}

// ErrHeader is returned when a feed's header lacks a required column.
var ErrHeader = errors.New("feed header")

func reject(row int, field, sku, format string, args ...any) Record {
	return Record{Row: row, Reject: &tasks.RowError{Row: row, Field: field, SKU: sku, Reason: fmt.Sprintf(format, args...)}}
}

// checkSKU validates a SKU as the task contract does (tasks.checker.id).
func checkSKU(sku string) string {
	switch {
	case sku == "":
		return "is required"
	case len(sku) > tasks.MaxIDLen:
		return fmt.Sprintf("is %d bytes, longer than %d", len(sku), tasks.MaxIDLen)
	case strings.ContainsFunc(sku, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	}
	return ""
}

// splitTags splits a comma-separated tag list, trimming and dropping empties.
func splitTags(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) > maxTags {
		out = out[:maxTags]
	}
	return out
}

// availability normalises Merchant Center availability values.
func availability(s string) (string, bool) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_") {
	case "":
		return "", true
	case "in_stock":
		return "in_stock", true
	case "out_of_stock":
		return "out_of_stock", true
	case "preorder":
		return "preorder", true
	case "backorder":
		return "backorder", true
	}
	return "", false
}

// finish applies the checks every format shares to a product built from a
// row and returns the record.
func finish(row int, p Product, names fieldNames) Record {
	if r := checkSKU(p.SKU); r != "" {
		return reject(row, names.sku, p.SKU, "%s", r)
	}
	if strings.TrimSpace(p.Title) == "" {
		return reject(row, names.title, p.SKU, "is required")
	}
	if len(p.Title) > maxShortBytes {
		return reject(row, names.title, p.SKU, "is %d bytes, longer than %d", len(p.Title), maxShortBytes)
	}
	if p.HasSale && p.Sale > p.Price {
		return reject(row, names.sale, p.SKU, "sale price %d is above the price %d", p.Sale, p.Price)
	}
	p.Active = true
	p.Row = row
	return Record{Row: row, Product: p}
}

// fieldNames are a format's names for the fields finish checks.
type fieldNames struct{ sku, title, sale string }

const maxQuantity = tasks.MaxQuantity

func validCurrency(c string) bool { return tasks.ValidCurrency(c) }

// nextRecord reads one record of a CSV or TSV feed with its starting line. A
// malformed record, or one whose width differs from the header's, comes
// back as a rejected Record for that row; the feed goes on.
func nextRecord(r *csv.Reader, width int, kind string) ([]string, int, *Record, error) {
	rec, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rej := reject(pe.StartLine, "columns", "", "malformed %s: %v", kind, pe.Err)
			return nil, pe.StartLine, &rej, nil
		}
		return nil, 0, nil, err
	}
	row, _ := r.FieldPos(0)
	if len(rec) != width {
		rej := reject(row, "columns", "", "has %d fields, the header has %d", len(rec), width)
		return nil, row, &rej, nil
	}
	return rec, row, nil, nil
}

func deref(r *Record) Record {
	if r == nil {
		return Record{}
	}
	return *r
}
