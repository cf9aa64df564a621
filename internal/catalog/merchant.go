package catalog

import (
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Merchant Center attributes the readers use. TSV headers and XML element
// names match them after lower-casing, dropping a "g:" prefix and turning
// spaces into underscores ("Image link" = "image_link" = <g:image_link>).
const (
	attrID           = "id"
	attrTitle        = "title"
	attrDescription  = "description"
	attrLink         = "link"
	attrImageLink    = "image_link"
	attrPrice        = "price"
	attrSalePrice    = "sale_price"
	attrSaleDate     = "sale_price_effective_date"
	attrAvailability = "availability"
	attrGTIN         = "gtin"
	attrBrand        = "brand"
	attrGroup        = "item_group_id"
	attrProductType  = "product_type"
	attrQuantity     = "quantity"
)

var merchantAttrs = []string{
	attrID, attrTitle, attrDescription, attrLink, attrImageLink, attrPrice, attrSalePrice,
	attrSaleDate, attrAvailability, attrGTIN, attrBrand, attrGroup, attrProductType, attrQuantity,
}

// googleNS is the namespace of Merchant Center's g: elements.
const googleNS = "http://base.google.com/ns/1.0"

func attrName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "g:")
	return strings.ReplaceAll(s, " ", "_")
}

// merchantProduct builds a product from an item's attributes; get returns
// "" for an attribute the item lacks.
func merchantProduct(row int, get func(string) string, o ParseOptions) Record {
	for _, a := range merchantAttrs {
		v := get(a)
		if !utf8.ValidString(v) {
			return reject(row, a, "", "is not valid UTF-8")
		}
		if len(v) > maxTextBytes {
			return reject(row, a, "", "is %d bytes, longer than %d", len(v), maxTextBytes)
		}
	}
	sku := strings.TrimSpace(get(attrID))
	if sku == "" {
		return reject(row, attrID, "", "is required")
	}
	avail, ok := availability(get(attrAvailability))
	if !ok {
		return reject(row, attrAvailability, sku, "%q is not one of in_stock, out_of_stock, preorder, backorder",
			get(attrAvailability))
	}
	brand := strings.TrimSpace(get(attrBrand))
	p := Product{
		SKU: sku, Supplier: o.Supplier, Title: strings.TrimSpace(get(attrTitle)),
		Description: strings.TrimSpace(get(attrDescription)), Link: strings.TrimSpace(get(attrLink)),
		ImageLink: strings.TrimSpace(get(attrImageLink)), GTIN: strings.TrimSpace(get(attrGTIN)),
		Brand: brand, Vendor: brand, ItemGroupID: strings.TrimSpace(get(attrGroup)),
		ProductType: strings.TrimSpace(get(attrProductType)), Availability: avail,
	}
	if strings.TrimSpace(get(attrPrice)) == "" {
		return reject(row, attrPrice, sku, "is required")
	}
	amount, cur, err := parseMerchantPrice(get(attrPrice), o.Currency)
	if err != nil {
		return reject(row, attrPrice, sku, "%v", err)
	}
	p.Price, p.Currency = amount, cur
	if v := strings.TrimSpace(get(attrSalePrice)); v != "" {
		sale, scur, err := parseMerchantPrice(v, cur)
		if err != nil {
			return reject(row, attrSalePrice, sku, "%v", err)
		}
		if scur != cur {
			return reject(row, attrSalePrice, sku, "is in %s, the price in %s", scur, cur)
		}
		p.Sale, p.HasSale = sale, true
		if w := strings.TrimSpace(get(attrSaleDate)); w != "" {
			if p.SaleStart, p.SaleEnd, err = parseInterval(w); err != nil {
				return reject(row, attrSaleDate, sku, "%v", err)
			}
		}
	}
	if v := strings.TrimSpace(get(attrQuantity)); v != "" {
		q, err := parseQuantity(v)
		if err != nil {
			return reject(row, attrQuantity, sku, "%v", err)
		}
		p.Quantity, p.HasQuantity = q, true
	}
	return finish(row, p, fieldNames{sku: attrID, title: attrTitle, sale: attrSalePrice})
}

// merchantTSVReader reads Merchant Center's tab-separated product data.
type merchantTSVReader struct {
	r      *csv.Reader
	o      ParseOptions
	width  int
	idx    map[string]int
	record []string
}

func newMerchantTSVReader(r io.Reader, o ParseOptions) (*merchantTSVReader, error) {
	cr := csv.NewReader(r)
	cr.Comma = '\t'
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: feed is empty", ErrHeader)
		}
		return nil, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	m := &merchantTSVReader{r: cr, o: o, width: len(head), idx: map[string]int{}}
	for i, h := range head {
		if _, dup := m.idx[attrName(h)]; !dup {
			m.idx[attrName(h)] = i
		}
	}
	for _, a := range []string{attrID, attrPrice} {
		if _, ok := m.idx[a]; !ok {
			return nil, fmt.Errorf("%w: no %q column", ErrHeader, a)
		}
	}
	return m, nil
}

// Next implements Reader.
func (m *merchantTSVReader) Next() (Record, error) {
	rec, row, rej, err := nextRecord(m.r, m.width, "TSV")
	if err != nil || rej != nil {
		return deref(rej), err
	}
	m.record = rec
	return merchantProduct(row, m.get, m.o), nil
}

func (m *merchantTSVReader) get(attr string) string {
	if i, ok := m.idx[attr]; ok {
		return m.record[i]
	}
	return ""
}

// merchantXMLReader reads Merchant Center's RSS 2.0 feed (<item> elements
// with g: attributes; Atom <entry> elements too).
type merchantXMLReader struct {
	d     *xml.Decoder
	o     ParseOptions
	items int
	fatal error
	attrs map[string]string
}

type xmlItem struct {
	Fields []xmlField `xml:",any"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

func newMerchantXMLReader(r io.Reader, o ParseOptions) *merchantXMLReader {
	d := xml.NewDecoder(r)
	d.Strict = true
	return &merchantXMLReader{d: d, o: o, attrs: map[string]string{}}
}

// Next implements Reader. Broken XML ends the feed: the item it is in is
// rejected, and the following call returns the error.
func (m *merchantXMLReader) Next() (Record, error) {
	if m.fatal != nil {
		return Record{}, m.fatal
	}
	for {
		tok, err := m.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return m.broken(m.items+1, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || (se.Name.Local != "item" && se.Name.Local != "entry") {
			continue
		}
		m.items++
		var it xmlItem
		if err := m.d.DecodeElement(&it, &se); err != nil {
			return m.broken(m.items, err)
		}
		clear(m.attrs)
		for _, f := range it.Fields {
			if f.XMLName.Space != "" && f.XMLName.Space != googleNS && f.XMLName.Space != "g" {
				continue
			}
			name := attrName(f.XMLName.Local)
			if _, seen := m.attrs[name]; !seen || f.XMLName.Space != "" {
				m.attrs[name] = f.Value // g:title wins over RSS's own title
			}
		}
		return merchantProduct(m.items, m.get, m.o), nil
	}
}

func (m *merchantXMLReader) broken(row int, err error) (Record, error) {
	m.fatal = fmt.Errorf("malformed XML in item %d: %w", row, err)
	return reject(row, "xml", "", "malformed XML: %v", err), nil
}

func (m *merchantXMLReader) get(attr string) string { return m.attrs[attr] }
