package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

// TestB13LargeImportByReference is scenario B13(b): a catalog of 50,000
// SKUs is never a task payload; it is imported by reference in chunk
// tasks of at most 500 SKUs whose payloads name the chunk, and only a
// bounded number of chunks waits in Redis at once.
func TestB13LargeImportByReference(t *testing.T) {
	t.Parallel()
	const skus = 50000

	// The whole catalog as one payload (about 40 MB of JSON) is refused,
	// with its size in the error.
	huge := `{"source":"` + strings.Repeat("x", 40<<20) + `"}`
	_, err := tasks.NewTaskFromJSON(tasks.TypeCatalogImport, []byte(huge))
	require.ErrorContains(t, err, fmt.Sprintf("payload is %d bytes", len(huge)))

	path := filepath.Join(t.TempDir(), "catalog.jsonl")
	f, err := os.Create(path)
	require.NoError(t, err)
	for i := 0; i < skus; i++ {
		_, err := fmt.Fprintf(f, `{"sku":"B13-%05d","title":"Item %d","price":"%d.99","quantity":%d}`+"\n", i, i, i%500, i%7)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	b := setup(t, Options{MaxPendingChunks: 4})
	ctx := context.Background()
	run, err := b.c.Begin(ctx, RunSpec{RunID: "b13", Source: path, Format: tasks.FormatJSONL, Supplier: "bulk"})
	require.NoError(t, err)

	chunks := make(chan int, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := range chunks {
			res, err := b.c.ApplyChunk(ctx, "b13", n)
			if err == nil {
				_, err = b.c.ChunkDone(ctx, res)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var payloads, maxWaiting int
	err = b.c.Split(ctx, run, func(ctx context.Context, id string, n int) error {
		task, err := tasks.NewCatalogChunkTask(tasks.CatalogChunkPayload{RunID: id, Chunk: n})
		require.NoError(t, err)
		require.Less(t, len(task.Payload()), 64, "a chunk task carries a reference, never rows")
		payloads++
		keys, err := b.st.RDB.Keys(ctx, b.st.Prefix+"{run:b13}:chunk:*").Result()
		require.NoError(t, err)
		maxWaiting = max(maxWaiting, len(keys))
		chunks <- n
		return nil
	})
	close(chunks)
	wg.Wait()
	require.NoError(t, err)

	rep, _, err := b.c.Wait(ctx, "b13")
	require.NoError(t, err)
	require.Equal(t, skus, rep.Created)
	require.Equal(t, 100, payloads, "50,000 SKUs in chunks of 500")
	require.LessOrEqual(t, maxWaiting, 5, "at most MaxPendingChunks chunks (plus the one being written) wait in Redis")
	left, err := b.st.RDB.Keys(ctx, b.st.Prefix+"{run:b13}:chunk:*").Result()
	require.NoError(t, err)
	require.Empty(t, left, "applied chunks are deleted")
}
