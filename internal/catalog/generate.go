package catalog

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// shopifyHeader is the 46-column header of Shopify's product CSV export.
const shopifyHeader = "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value," +
	"Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams," +
	"Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy," +
	"Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Requires Shipping," +
	"Variant Taxable,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,SEO Title," +
	"SEO Description,Google Shopping / Google Product Category,Google Shopping / Gender," +
	"Google Shopping / Age Group,Google Shopping / MPN,Google Shopping / AdWords Grouping," +
	"Google Shopping / AdWords Labels,Google Shopping / Condition,Google Shopping / Custom Product," +
	"Google Shopping / Custom Label 0,Google Shopping / Custom Label 1,Google Shopping / Custom Label 2," +
	"Google Shopping / Custom Label 3,Google Shopping / Custom Label 4,Variant Image,Variant Weight Unit," +
	"Variant Tax Code\n"

var genSizes = []string{"Small", "Medium", "Large"}

// GenerateShopifyFeed writes a Shopify product CSV export of n data rows
// shaped like the real ones in testdata/shopify: products of one to three
// size variants whose later rows repeat only the handle, empty SKUs,
// compare-at prices on every third product, quoted descriptions with
// commas, and an image-only row after every 25th product. The same n
// always gives the same feed. Every product row imports; image-only rows
// are skipped.
func GenerateShopifyFeed(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.WriteString(shopifyHeader); err != nil {
		return fmt.Errorf("write feed: %w", err)
	}
	row, product := 0, 0
	buf := make([]byte, 0, 1024)
	for row < n {
		product++
		handle := "generated-product-" + strconv.Itoa(product)
		variants := 1 + product%3
		for v := 0; v < variants && row < n; v++ {
			buf = appendGenRow(buf[:0], product, handle, v, variants)
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write feed: %w", err)
			}
			row++
		}
		if product%25 == 0 && row < n {
			buf = append(buf[:0], handle...)
			buf = append(buf, ",,,,,,,,,,,,,,,,,,,,,,,,https://cdn.example.test/img/"...)
			buf = strconv.AppendInt(buf, int64(product), 10)
			buf = append(buf, "-2.jpg,2,,,,,,,,,,,,,,,,,,,,\n"...)
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write feed: %w", err)
			}
			row++
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write feed: %w", err)
	}
	return nil
}

func appendGenRow(b []byte, product int, handle string, v, variants int) []byte {
	price := 500 + (product*37)%20000 + v*100
	b = append(b, handle...)
	if v == 0 {
		b = append(b, ",Generated Product "...)
		b = strconv.AppendInt(b, int64(product), 10)
		b = append(b, `,"<p>A sturdy product, made to last. Batch `...)
		b = strconv.AppendInt(b, int64(product%97), 10)
		b = append(b, `, colour ""natural"".</p>",Vendor `...)
		b = strconv.AppendInt(b, int64(product%40), 10)
		b = append(b, ",Type "...)
		b = strconv.AppendInt(b, int64(product%12), 10)
		b = append(b, `,"tag-`...)
		b = strconv.AppendInt(b, int64(product%50), 10)
		b = append(b, `, tag-all",true,`...)
		if variants == 1 {
			b = append(b, "Title,Default Title,"...)
		} else {
			b = append(b, "Size,Small,"...)
		}
	} else {
		b = append(b, ",,,,,,,,"...)
		b = append(b, genSizes[v]...)
		b = append(b, ',')
	}
	b = append(b, ",,,,,0,,"...)
	b = strconv.AppendInt(b, int64((product+v)%50), 10)
	b = append(b, ",deny,manual,"...)
	b = appendMoney(b, price)
	b = append(b, ',')
	if product%3 == 0 {
		b = appendMoney(b, price+price/4)
	}
	b = append(b, ",true,true,,"...)
	if v == 0 {
		b = append(b, "https://cdn.example.test/img/"...)
		b = strconv.AppendInt(b, int64(product), 10)
		b = append(b, ".jpg,1"...)
	} else {
		b = append(b, ',')
	}
	b = append(b, ",,false,,,,,,,,,,,,,,,,,kg,\n"...)
	return b
}

func appendMoney(b []byte, cents int) []byte {
	b = strconv.AppendInt(b, int64(cents/100), 10)
	b = append(b, '.')
	if c := cents % 100; c < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(cents%100), 10)
}
