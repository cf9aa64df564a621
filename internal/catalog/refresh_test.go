package catalog

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

func jsonlFeed(from, to int, price string) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, `{"sku":"P-%03d","title":"Product %d","vendor":"Acme","tags":["t%d"],"price":%q,"quantity":%d}`+"\n",
			i, i, i%3, price, i)
	}
	return b.String()
}

func TestFullRefreshDeactivation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Options{MaxDeactivateShare: 0.25, ChunkSize: 4})

	imp := func(id, feed string, full bool) tasks.CatalogImportResult {
		return b.importFeed(t, RunSpec{RunID: id, Source: writeFile(t, id+".jsonl", feed),
			Format: tasks.FormatJSONL, Supplier: "acme", Full: full, Currency: "EUR"})
	}
	rep := imp("r1", jsonlFeed(1, 20, "5.00"), true)
	require.Equal(t, 20, rep.Created)
	// Another supplier's products are never touched by acme's refresh.
	other := b.importFeed(t, RunSpec{RunID: "o1", Source: writeFile(t, "o.jsonl", `{"sku":"OTHER","title":"O","price":"1"}`),
		Format: tasks.FormatJSONL, Supplier: "other", Full: true})
	require.Equal(t, 1, other.Created)

	// 3 of 20 gone (15 %): deactivated. A rejected row is still in the feed
	// and is kept.
	feed := jsonlFeed(1, 16, "5.00") + `{"sku":"P-017","title":"Product 17","price":"bad"}` + "\n"
	rep = imp("r2", feed, true)
	require.Equal(t, 3, rep.Deactivated, "%+v", rep)
	require.Equal(t, 16, rep.Unchanged)
	require.Equal(t, 1, rep.RejectedCount)
	p, err := b.c.Product(ctx, "P-018")
	require.NoError(t, err)
	require.False(t, p.Active)
	p, err = b.c.Product(ctx, "P-017")
	require.NoError(t, err)
	require.True(t, p.Active, "a rejected row does not deactivate its product")

	// A truncated feed (5 of 17 active) must not wipe the shop.
	rep = imp("r3", jsonlFeed(1, 5, "5.00"), true)
	require.Zero(t, rep.Deactivated)
	require.Equal(t, StatusCompletedWithErrors, rep.Status)
	require.Len(t, rep.Warnings, 1)
	require.Contains(t, rep.Warnings[0], "refused to deactivate 12 of 17")
	p, err = b.c.Product(ctx, "P-010")
	require.NoError(t, err)
	require.True(t, p.Active)

	b.followUps() // drop those of the earlier runs

	// Without --full nothing is deactivated; a returning product is
	// active again, and a changed price is an update.
	rep = imp("r4", jsonlFeed(18, 18, "6.00"), false)
	require.Equal(t, 1, rep.Updated)
	require.Zero(t, rep.Deactivated)
	p, err = b.c.Product(ctx, "P-018")
	require.NoError(t, err)
	require.True(t, p.Active)
	require.Equal(t, int64(600), p.Price)
	prices, _ := b.followUps()
	require.Len(t, prices, 1)
	require.Equal(t, "P-018", prices[0].SKU)

	o, err := b.c.Product(ctx, "OTHER")
	require.NoError(t, err)
	require.True(t, o.Active)
}

func TestIndexesFollowChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Options{})
	src := func(id, feed string) RunSpec {
		return RunSpec{RunID: id, Source: writeFile(t, id+".jsonl", feed), Format: tasks.FormatJSONL, Supplier: "s1"}
	}
	b.importFeed(t, src("a", `{"sku":"X","title":"X","vendor":"Old Co","tags":["red","sale"],"price":"1"}`))
	rep := b.importFeed(t, src("b", `{"sku":"X","title":"X","vendor":"New Co","tags":["red"],"price":"1"}`))
	require.Equal(t, 1, rep.Updated)

	members := func(key string) []string {
		m, err := b.st.RDB.SMembers(ctx, key).Result()
		require.NoError(t, err)
		return m
	}
	require.Empty(t, members(b.st.VendorIndexKey("old co")))
	require.Equal(t, []string{"X"}, members(b.st.VendorIndexKey("NEW CO")))
	require.Equal(t, []string{"X"}, members(b.st.TagIndexKey("red")))
	require.Empty(t, members(b.st.TagIndexKey("sale")))
	_, stock := b.followUps()
	require.Empty(t, stock, "the feed carries no quantities")
}

func TestExpiredChunkIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Options{ChunkSize: 5})
	spec := RunSpec{RunID: "exp", Source: writeFile(t, "f.jsonl", jsonlFeed(1, 12, "1.00")),
		Format: tasks.FormatJSONL, Supplier: "acme", Full: true}
	run, err := b.c.Begin(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, b.c.Split(ctx, run, func(ctx context.Context, id string, n int) error {
		if n == 2 { // its lifetime ran out before a worker took it
			require.NoError(t, b.st.RDB.Del(ctx, b.c.chunkKey(id, n)).Err())
		}
		b.applyChunk(t, id, n)
		return nil
	}))
	rep, _, err := b.c.Wait(ctx, "exp")
	require.NoError(t, err)
	require.Equal(t, 7, rep.Created)
	require.Equal(t, StatusCompletedWithErrors, rep.Status)
	require.Contains(t, rep.Warnings[0], "chunk 2 expired")
	require.Contains(t, rep.Warnings[1], "no product deactivated")

	prog, err := b.c.Progress(ctx, "exp")
	require.NoError(t, err)
	require.Equal(t, Progress{State: stateDone, RowsRead: 12, Chunks: 3, ChunksDone: 3, Written: 3}, prog)
	require.Equal(t, "done: 12 rows", prog.String())
	_, err = b.c.Progress(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Begin on a finished run re-attaches: nothing is split again.
	again, err := b.c.Begin(ctx, spec)
	require.NoError(t, err)
	require.Equal(t, stateDone, again.State)
	require.Equal(t, run.Version, again.Version)
}
