package catalog

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Product is one sellable variant as the catalog keeps it. Amounts are minor
// units of Currency.
type Product struct {
	SKU         string   `json:"sku"`
	Supplier    string   `json:"supplier"`
	Handle      string   `json:"handle,omitempty"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Vendor      string   `json:"vendor,omitempty"`
	ProductType string   `json:"product_type,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Options are the variant's option values (Size: Small ...), in order.
	Options     []string `json:"options,omitempty"`
	Link        string   `json:"link,omitempty"`
	ImageLink   string   `json:"image_link,omitempty"`
	GTIN        string   `json:"gtin,omitempty"`
	Brand       string   `json:"brand,omitempty"`
	ItemGroupID string   `json:"item_group_id,omitempty"`
	// Availability is in_stock, out_of_stock, preorder or backorder; empty
	// when the feed does not say.
	Availability string `json:"availability,omitempty"`

	Currency string `json:"currency"`
	// Price is the regular price.
	Price int64 `json:"price"`
	// Sale is the sale price when HasSale; it applies within
	// [SaleStart, SaleEnd) when those are set.
	HasSale   bool      `json:"has_sale,omitempty"`
	Sale      int64     `json:"sale,omitempty"`
	SaleStart time.Time `json:"sale_start,omitzero"`
	SaleEnd   time.Time `json:"sale_end,omitzero"`
	// Quantity is the stock the feed reports, when HasQuantity.
	HasQuantity bool  `json:"has_quantity,omitempty"`
	Quantity    int64 `json:"quantity,omitempty"`

	// Active is false for products a full refresh no longer found.
	Active bool `json:"active"`
	// Row is the feed row the product came from (not stored).
	Row int `json:"row,omitempty"`
}

// Product hash fields. Every field is written on each change, so a field
// the feed no longer sets is emptied.
const (
	fSKU, fSupplier, fHandle, fTitle, fDescription = "sku", "supplier", "handle", "title", "description"
	fVendor, fType, fTags, fOptions                = "vendor", "product_type", "tags", "options"
	fLink, fImage, fGTIN, fBrand, fGroup, fAvail   = "link", "image_link", "gtin", "brand", "item_group_id", "availability"
	fCurrency, fPrice, fSale, fSaleStart, fSaleEnd = "currency", "price", "sale_price", "sale_starts_at", "sale_ends_at"
	fQuantity, fActive, fHash, fPriceSig, fRun     = "quantity", "active", "content_hash", "price_sig", "run"
	fOutcome, fUpdatedAt                           = "run_outcome", "updated_at"
)

// fields returns the product's hash fields (without bookkeeping fields).
func (p *Product) fields() []string {
	qty := ""
	if p.HasQuantity {
		qty = strconv.FormatInt(p.Quantity, 10)
	}
	sale, start, end := "", "", ""
	if p.HasSale {
		sale = strconv.FormatInt(p.Sale, 10)
		start, end = formatTime(p.SaleStart), formatTime(p.SaleEnd)
	}
	return []string{
		fSKU, p.SKU, fSupplier, p.Supplier, fHandle, p.Handle, fTitle, p.Title,
		fDescription, p.Description, fVendor, p.Vendor, fType, p.ProductType,
		fTags, strings.Join(p.Tags, ","), fOptions, strings.Join(p.Options, " / "),
		fLink, p.Link, fImage, p.ImageLink, fGTIN, p.GTIN, fBrand, p.Brand,
		fGroup, p.ItemGroupID, fAvail, p.Availability, fCurrency, p.Currency,
		fPrice, strconv.FormatInt(p.Price, 10), fSale, sale, fSaleStart, start, fSaleEnd, end,
		fQuantity, qty,
	}
}

// priceSig identifies the price settings: a change sends a price update.
func (p *Product) priceSig() string {
	if !p.HasSale {
		return p.Currency + ":" + strconv.FormatInt(p.Price, 10)
	}
	return p.Currency + ":" + strconv.FormatInt(p.Price, 10) + ":" + strconv.FormatInt(p.Sale, 10) +
		":" + formatTime(p.SaleStart) + ":" + formatTime(p.SaleEnd)
}

// ContentHash is a digest of everything the product hash stores: equal
// hashes mean the stored product needs no write.
func (p *Product) ContentHash() string { return hashFields(p.fields()) }

func hashFields(fields []string) string {
	h := fnv.New64a()
	for _, f := range fields {
		_, _ = h.Write([]byte(f))
		_, _ = h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// productFromHash reads a stored product hash.
func productFromHash(m map[string]string) Product {
	p := Product{
		SKU: m[fSKU], Supplier: m[fSupplier], Handle: m[fHandle], Title: m[fTitle],
		Description: m[fDescription], Vendor: m[fVendor], ProductType: m[fType],
		Link: m[fLink], ImageLink: m[fImage], GTIN: m[fGTIN], Brand: m[fBrand],
		ItemGroupID: m[fGroup], Availability: m[fAvail], Currency: m[fCurrency],
		Active: m[fActive] == "1",
	}
	if v := m[fTags]; v != "" {
		p.Tags = strings.Split(v, ",")
	}
	if v := m[fOptions]; v != "" {
		p.Options = strings.Split(v, " / ")
	}
	p.Price, _ = strconv.ParseInt(m[fPrice], 10, 64)
	if v := m[fSale]; v != "" {
		p.HasSale = true
		p.Sale, _ = strconv.ParseInt(v, 10, 64)
		p.SaleStart, _ = time.Parse(time.RFC3339, m[fSaleStart])
		p.SaleEnd, _ = time.Parse(time.RFC3339, m[fSaleEnd])
	}
	if v := m[fQuantity]; v != "" {
		p.HasQuantity = true
		p.Quantity, _ = strconv.ParseInt(v, 10, 64)
	}
	return p
}
