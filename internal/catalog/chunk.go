package catalog

import (
	"encoding/binary"
	"errors"
	"time"
)

// Chunk encoding: products one after the other, each as its fields in a
// fixed order: strings and lists length-prefixed (uvarint), numbers as
// varints, times as Unix seconds. It is about ten times cheaper than JSON
// both ways, which matters at a million rows. chunkVersion starts every
// chunk so a format change is detected, not misread.
const chunkVersion = 1

var errChunk = errors.New("malformed chunk")

func appendProduct(b []byte, p *Product) []byte {
	for _, s := range [...]string{
		p.SKU, p.Supplier, p.Handle, p.Title, p.Description, p.Vendor, p.ProductType, p.Link,
		p.ImageLink, p.GTIN, p.Brand, p.ItemGroupID, p.Availability, p.Currency,
	} {
		b = appendString(b, s)
	}
	b = appendList(b, p.Tags)
	b = appendList(b, p.Options)
	var flags byte
	if p.HasSale {
		flags |= 1
	}
	if p.HasQuantity {
		flags |= 2
	}
	if p.Active {
		flags |= 4
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, p.Price)
	b = binary.AppendVarint(b, p.Sale)
	b = binary.AppendVarint(b, unix(p.SaleStart))
	b = binary.AppendVarint(b, unix(p.SaleEnd))
	b = binary.AppendVarint(b, p.Quantity)
	return binary.AppendVarint(b, int64(p.Row))
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// chunkReader decodes an encoded chunk.
type chunkReader struct {
	b   []byte
	err error
}

func (r *chunkReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errChunk, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *chunkReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errChunk, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *chunkReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errChunk, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *chunkReader) list() []string {
	n := r.uvarint()
	if n == 0 || n > uint64(len(r.b)) {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func (r *chunkReader) product() Product {
	var p Product
	for _, s := range [...]*string{
		&p.SKU, &p.Supplier, &p.Handle, &p.Title, &p.Description, &p.Vendor, &p.ProductType, &p.Link,
		&p.ImageLink, &p.GTIN, &p.Brand, &p.ItemGroupID, &p.Availability, &p.Currency,
	} {
		*s = r.str()
	}
	p.Tags, p.Options = r.list(), r.list()
	if len(r.b) == 0 {
		r.err = errChunk
		return p
	}
	flags := r.b[0]
	r.b = r.b[1:]
	p.HasSale, p.HasQuantity, p.Active = flags&1 != 0, flags&2 != 0, flags&4 != 0
	p.Price, p.Sale = r.varint(), r.varint()
	p.SaleStart, p.SaleEnd = fromUnix(r.varint()), fromUnix(r.varint())
	p.Quantity, p.Row = r.varint(), int(r.varint())
	return p
}

// decodeChunk reads every product of an encoded chunk.
func decodeChunk(data string) ([]Product, error) {
	if len(data) == 0 || data[0] != chunkVersion {
		return nil, errChunk
	}
	r := &chunkReader{b: []byte(data[1:])}
	var out []Product
	for len(r.b) > 0 && r.err == nil {
		out = append(out, r.product())
	}
	return out, r.err
}
