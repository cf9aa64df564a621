package catalog

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Shopify product CSV columns the reader uses; names match case-insensitively.
const (
	colHandle    = "Handle"
	colTitle     = "Title"
	colBody      = "Body (HTML)"
	colVendor    = "Vendor"
	colType      = "Type"
	colTags      = "Tags"
	colSKU       = "Variant SKU"
	colQty       = "Variant Inventory Qty"
	colPrice     = "Variant Price"
	colCompareAt = "Variant Compare At Price"
	colBarcode   = "Variant Barcode"
	colImage     = "Image Src"
	colVarImage  = "Variant Image"
)

var shopifyCols = []string{
	colHandle, colTitle, colBody, colVendor, colType, colTags, colSKU, colQty, colPrice,
	colCompareAt, colBarcode, colImage, colVarImage,
	"Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value",
}

// shopifyReader reads Shopify's product CSV: one row per variant, the
// product's fields only on its first row, image-only rows in between.
type shopifyReader struct {
	r      *csv.Reader
	o      ParseOptions
	header []string
	idx    map[string]int // column name -> index, -1 when absent
	cur    shopifyProduct
}

// shopifyProduct holds the product-level fields of the current handle.
type shopifyProduct struct {
	handle, title, body, vendor, typ, image string
	tags                                    []string
}

func newShopifyReader(r io.Reader, o ParseOptions) (*shopifyReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: feed is empty", ErrHeader)
		}
		return nil, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	s := &shopifyReader{r: cr, o: o, header: append([]string(nil), head...), idx: map[string]int{}}
	for _, c := range shopifyCols {
		s.idx[c] = -1
		for i, h := range s.header {
			if strings.EqualFold(strings.TrimSpace(h), c) {
				s.idx[c] = i
				break
			}
		}
	}
	for _, c := range []string{colHandle, colPrice} {
		if s.idx[c] < 0 {
			return nil, fmt.Errorf("%w: no %q column", ErrHeader, c)
		}
	}
	return s, nil
}

// Next implements Reader.
func (s *shopifyReader) Next() (Record, error) {
	rec, row, rej, err := nextRecord(s.r, len(s.header), "CSV")
	if err != nil || rej != nil {
		return deref(rej), err
	}
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return reject(row, s.header[i], "", "is not valid UTF-8"), nil
		}
		if len(v) > maxTextBytes {
			return reject(row, s.header[i], "", "is %d bytes, longer than %d", len(v), maxTextBytes), nil
		}
	}
	return s.product(row, rec), nil
}

func (s *shopifyReader) col(rec []string, name string) string {
	if i := s.idx[name]; i >= 0 {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

func (s *shopifyReader) product(row int, rec []string) Record {
	handle := s.col(rec, colHandle)
	if handle != s.cur.handle || s.col(rec, colTitle) != "" {
		s.cur = shopifyProduct{
			handle: handle, title: s.col(rec, colTitle), body: s.col(rec, colBody),
			vendor: s.col(rec, colVendor), typ: s.col(rec, colType),
			tags: splitTags(s.col(rec, colTags)), image: s.col(rec, colImage),
		}
	}

	sku, price := s.col(rec, colSKU), s.col(rec, colPrice)
	var opts []string
	for _, c := range []string{"Option1 Value", "Option2 Value", "Option3 Value"} {
		if v := s.col(rec, c); v != "" && !strings.EqualFold(v, "Default Title") {
			opts = append(opts, v)
		}
	}
	if sku == "" && price == "" && s.col(rec, "Option1 Value") == "" {
		return Record{Row: row, Skipped: true} // image-only row: not a variant
	}
	if handle == "" {
		if sku == "" {
			return reject(row, colSKU, "", "is empty and there is no Handle to derive it from")
		}
		return reject(row, colHandle, sku, "is required")
	}
	if sku == "" {
		sku = DeriveSKU(handle, opts)
	}

	p := Product{
		SKU: sku, Supplier: s.o.Supplier, Handle: handle, Title: s.cur.title,
		Description: s.cur.body, Vendor: s.cur.vendor, ProductType: s.cur.typ, Tags: s.cur.tags,
		Options: opts, ImageLink: s.col(rec, colVarImage), GTIN: s.col(rec, colBarcode),
		Currency: s.o.Currency,
	}
	if p.ImageLink == "" {
		p.ImageLink = s.cur.image
	}
	amount, err := parseAmount(price, p.Currency)
	if err != nil {
		return reject(row, colPrice, sku, "%v", err)
	}
	p.Price = amount
	if v := s.col(rec, colCompareAt); v != "" {
		cmp, err := parseAmount(v, p.Currency)
		if err != nil {
			return reject(row, colCompareAt, sku, "%v", err)
		}
		if cmp > amount { // on sale: compare-at is the regular price
			p.Price, p.Sale, p.HasSale = cmp, amount, true
		}
	}
	if v := s.col(rec, colQty); v != "" {
		q, err := parseQuantity(v)
		if err != nil {
			return reject(row, colQty, sku, "%v", err)
		}
		p.Quantity, p.HasQuantity = q, true
	}
	return finish(row, p, fieldNames{sku: colSKU, title: colTitle, sale: colCompareAt})
}

// DeriveSKU builds the SKU of a Shopify variant whose export has none: the
// handle and the option values ("Default Title" excluded), each lower-cased
// with every run of other characters than letters and digits replaced by
// one "-", joined by "-". "classic-varsity-top" + "Small" gives
// "classic-varsity-top-small". The rule depends on nothing but these
// values, so every run derives the same SKU. A result above 200 bytes keeps
// its first 180 bytes plus a digest of the whole.
func DeriveSKU(handle string, options []string) string {
	var b strings.Builder
	slug(&b, handle)
	for _, o := range options {
		b.WriteByte('-')
		slug(&b, o)
	}
	s := b.String()
	if len(s) <= 200 {
		return s
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	cut := 180
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "-" + strconv.FormatUint(h.Sum64(), 36)
}

func slug(b *strings.Builder, s string) {
	dash := false
	start := b.Len()
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > start {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		dash = true
	}
}
