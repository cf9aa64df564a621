package store

import "strings"

// Catalog keys shared by the catalog (which writes them) and pricing (which
// reads them to resolve promotion targets).
//
//	{prefix}{sku:<SKU>}:product      hash: sku, handle, title, vendor,
//	                                 product_type, tags (comma-joined),
//	                                 supplier, active ("1"/"0"), ...
//	{prefix}idx:skus                 set of every SKU in the catalog
//	{prefix}idx:vendor:<vendor>      set of SKUs per vendor
//	{prefix}idx:type:<product type>  set of SKUs per product type
//	{prefix}idx:tag:<tag>            set of SKUs per tag
//
// Index values are normalised with IndexValue, so matching a promotion's
// target is case- and space-insensitive.

// ProductKey is the hash of one product variant.
func (s *Store) ProductKey(sku string) string { return s.TagKey("sku", sku, "product") }

// AllSKUsKey is the set of every SKU.
func (s *Store) AllSKUsKey() string { return s.Key("idx", "skus") }

// VendorIndexKey is the set of SKUs of a vendor.
func (s *Store) VendorIndexKey(vendor string) string {
	return s.Key("idx", "vendor", IndexValue(vendor))
}

// TypeIndexKey is the set of SKUs of a product type.
func (s *Store) TypeIndexKey(productType string) string {
	return s.Key("idx", "type", IndexValue(productType))
}

// TagIndexKey is the set of SKUs carrying a tag.
func (s *Store) TagIndexKey(tag string) string { return s.Key("idx", "tag", IndexValue(tag)) }

// IndexValue normalises an index value: trimmed, lower case, inner runs of
// white space collapsed to one space.
func IndexValue(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}

// SupplierIndexKey is the set of SKUs a supplier's feeds brought in; a full
// refresh deactivates the members its feed no longer lists.
func (s *Store) SupplierIndexKey(supplier string) string {
	return s.Key("idx", "supplier", supplier)
}
