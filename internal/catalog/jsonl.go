package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// maxJSONLine bounds one JSON Lines item; a longer line is rejected and
// skipped without being held in memory.
const maxJSONLine = 1 << 20

// jsonProduct is shopq's JSON Lines product schema (docs/catalog.md).
type jsonProduct struct {
	SKU          string   `json:"sku"`
	Title        string   `json:"title"`
	Description  string   `json:"description"`
	Handle       string   `json:"handle"`
	Vendor       string   `json:"vendor"`
	ProductType  string   `json:"product_type"`
	Tags         []string `json:"tags"`
	Options      []string `json:"options"`
	Link         string   `json:"link"`
	ImageLink    string   `json:"image_link"`
	GTIN         string   `json:"gtin"`
	Brand        string   `json:"brand"`
	ItemGroupID  string   `json:"item_group_id"`
	Availability string   `json:"availability"`
	Currency     string   `json:"currency"`
	Price        decimal  `json:"price"`
	SalePrice    decimal  `json:"sale_price"`
	SaleStartsAt string   `json:"sale_starts_at"`
	SaleEndsAt   string   `json:"sale_ends_at"`
	Quantity     *int64   `json:"quantity"`
}

// decimal is a price given as a JSON string ("12.99") or number (12.99); it
// keeps the text so no float rounding happens.
type decimal string

func (d *decimal) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimal(s)
		return nil
	}
	*d = decimal(b)
	return nil
}

// jsonlReader reads one product per line; blank lines are allowed.
type jsonlReader struct {
	r    *bufio.Reader
	o    ParseOptions
	line int
	buf  []byte
}

func newJSONLReader(r *bufio.Reader, o ParseOptions) *jsonlReader {
	return &jsonlReader{r: r, o: o}
}

// Next implements Reader.
func (j *jsonlReader) Next() (Record, error) {
	for {
		line, tooLong, err := j.readLine()
		if err != nil {
			return Record{}, err
		}
		j.line++
		if tooLong {
			return reject(j.line, "line", "", "is longer than %d bytes", maxJSONLine), nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		return j.item(line), nil
	}
}

// readLine returns the next line; a line above maxJSONLine is read to its
// end without being kept and reported as too long.
func (j *jsonlReader) readLine() ([]byte, bool, error) {
	j.buf = j.buf[:0]
	tooLong := false
	for {
		chunk, err := j.r.ReadSlice('\n')
		if !tooLong {
			if len(j.buf)+len(chunk) > maxJSONLine {
				tooLong, j.buf = true, j.buf[:0]
			} else {
				j.buf = append(j.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (!errors.Is(err, io.EOF) || (len(j.buf) == 0 && !tooLong)) {
			return nil, false, err
		}
		return j.buf, tooLong, nil
	}
}

func (j *jsonlReader) item(line []byte) Record {
	row := j.line
	if !utf8.Valid(line) {
		return reject(row, "line", "", "is not valid UTF-8")
	}
	var in jsonProduct
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return reject(row, te.Field, "", "must be a JSON %s, got %s", te.Type.Kind(), te.Value)
		}
		return reject(row, "line", "", "malformed JSON: %v", err)
	}
	if dec.More() {
		return reject(row, "line", "", "holds more than one JSON value")
	}
	for _, f := range []string{in.SKU, in.Title, in.Handle, in.Vendor, in.ProductType, in.Link, in.ImageLink} {
		if len(f) > maxTextBytes {
			return reject(row, "line", in.SKU, "has a field longer than %d bytes", maxTextBytes)
		}
	}
	return j.product(row, &in)
}

func (j *jsonlReader) product(row int, in *jsonProduct) Record {
	sku := strings.TrimSpace(in.SKU)
	avail, ok := availability(in.Availability)
	if !ok {
		return reject(row, "availability", sku, "%q is not one of in_stock, out_of_stock, preorder, backorder",
			in.Availability)
	}
	cur := strings.ToUpper(strings.TrimSpace(in.Currency))
	if cur == "" {
		cur = j.o.Currency
	}
	if !validCurrency(cur) {
		return reject(row, "currency", sku, "%q is not an ISO 4217 currency code", cur)
	}
	tags := make([]string, 0, len(in.Tags))
	for _, t := range in.Tags {
		if t = strings.TrimSpace(t); t != "" && !strings.Contains(t, ",") {
			tags = append(tags, t)
		}
	}
	p := Product{
		SKU: sku, Supplier: j.o.Supplier, Handle: strings.TrimSpace(in.Handle),
		Title: strings.TrimSpace(in.Title), Description: in.Description,
		Vendor: strings.TrimSpace(in.Vendor), ProductType: strings.TrimSpace(in.ProductType),
		Tags: tags, Options: in.Options, Link: in.Link, ImageLink: in.ImageLink, GTIN: in.GTIN,
		Brand: in.Brand, ItemGroupID: in.ItemGroupID, Availability: avail, Currency: cur,
	}
	if len(p.Tags) == 0 {
		p.Tags = nil
	}
	var err error
	if p.Price, err = parseAmount(string(in.Price), cur); err != nil {
		return reject(row, "price", sku, "%v", err)
	}
	if in.SalePrice != "" {
		if p.Sale, err = parseAmount(string(in.SalePrice), cur); err != nil {
			return reject(row, "sale_price", sku, "%v", err)
		}
		p.HasSale = true
		if p.SaleStart, p.SaleEnd, err = jsonWindow(in.SaleStartsAt, in.SaleEndsAt); err != nil {
			return reject(row, "sale_ends_at", sku, "%v", err)
		}
	}
	if in.Quantity != nil {
		if *in.Quantity < 0 {
			return reject(row, "quantity", sku, "must not be negative, got %d", *in.Quantity)
		}
		if *in.Quantity > maxQuantity {
			return reject(row, "quantity", sku, "is above the limit of %d", maxQuantity)
		}
		p.Quantity, p.HasQuantity = *in.Quantity, true
	}
	return finish(row, p, fieldNames{sku: "sku", title: "title", sale: "sale_price"})
}

func jsonWindow(start, end string) (time.Time, time.Time, error) {
	var s, e time.Time
	var err error
	if start != "" {
		if s, err = time.Parse(time.RFC3339, start); err != nil {
			return s, e, fmt.Errorf("sale_starts_at %q is not RFC 3339", start)
		}
	}
	if end != "" {
		if e, err = time.Parse(time.RFC3339, end); err != nil {
			return s, e, fmt.Errorf("%q is not RFC 3339", end)
		}
	}
	if !s.IsZero() && !e.IsZero() && !e.After(s) {
		return s, e, fmt.Errorf("%q is not after sale_starts_at %q", end, start)
	}
	return s.UTC(), e.UTC(), nil
}
