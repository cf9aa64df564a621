package catalog

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func TestGenerateShopifyFeed(t *testing.T) {
	t.Parallel()

	var a, b bytes.Buffer
	require.NoError(t, GenerateShopifyFeed(&a, 1000))
	require.NoError(t, GenerateShopifyFeed(&b, 1000))
	require.Equal(t, a.Bytes(), b.Bytes(), "same n, same feed")

	recs := readAll(t, tasks.FormatShopifyCSV, a.String())
	require.Len(t, recs, 1000)
	skipped, sales := 0, 0
	for i, r := range recs {
		require.Nil(t, r.Reject, "row %d: %+v", r.Row, r.Reject)
		require.Equal(t, i+2, r.Row)
		if r.Skipped {
			skipped++
			continue
		}
		if r.Product.HasSale {
			sales++
		}
	}
	require.Positive(t, skipped)
	require.Positive(t, sales)
}
