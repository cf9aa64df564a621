package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

// serve starts a loopback HTTP server for one test.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func apparel(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(apparelCSV)
	require.NoError(t, err)
	return data
}

// split runs the split step of a run and returns its error.
func (b *testBundle) split(t *testing.T, spec RunSpec) error {
	t.Helper()
	run, err := b.c.Begin(context.Background(), spec)
	require.NoError(t, err)
	return b.c.Split(context.Background(), run, func(ctx context.Context, id string, n int) error {
		b.applyChunk(t, id, n)
		return nil
	})
}

func TestHTTPFeedConditionalGet(t *testing.T) {
	t.Parallel()
	feed := apparel(t)
	var full, notModified atomic.Int32
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Wed, 02 Dec 2026 10:00:00 GMT")
		_, _ = w.Write(feed)
	})
	b := setup(t, Options{})
	spec := RunSpec{RunID: "h1", Source: url + "/apparel.csv", Format: tasks.FormatShopifyCSV, Supplier: "acme"}

	rep := b.importFeed(t, spec)
	require.Equal(t, 22, rep.Created)

	spec.RunID = "h2"
	rep = b.importFeed(t, spec)
	require.Equal(t, StatusUnchanged, rep.Status, "304: not processed again")
	require.Zero(t, rep.Rows)
	require.Equal(t, int32(1), notModified.Load())

	spec.RunID, spec.Force = "h3", true
	rep = b.importFeed(t, spec)
	require.Equal(t, 22, rep.Unchanged, "--force reads it again")
	require.Equal(t, int32(2), full.Load())
}

func TestHTTPFeedGzip(t *testing.T) {
	t.Parallel()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(append([]byte{0xEF, 0xBB, 0xBF}, apparel(t)...)) // with a BOM
	require.NoError(t, zw.Close())

	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/encoded" {
			if r.Header.Get("Accept-Encoding") != "gzip" {
				http.Error(w, "gzip only", http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
		}
		_, _ = w.Write(z.Bytes())
	})
	for _, path := range []string{"/encoded", "/feed.csv.gz"} {
		b := setup(t, Options{})
		rep := b.importFeed(t, RunSpec{RunID: "g", Source: url + path, Format: tasks.FormatShopifyCSV, Supplier: "acme"})
		require.Equal(t, 22, rep.Created, path)
	}
}

func TestHTTPFeedFailures(t *testing.T) {
	t.Parallel()
	feed := apparel(t)
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-headers":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "/stall":
			w.Header().Set("Content-Length", strconv.Itoa(len(feed)))
			_, _ = w.Write(feed[:100])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "/truncated":
			w.Header().Set("Content-Length", strconv.Itoa(len(feed)))
			_, _ = w.Write(feed[:len(feed)/2])
		case "/big-announced":
			w.Header().Set("Content-Length", strconv.Itoa(len(feed)))
			_, _ = w.Write(feed)
		case "/big-chunked":
			for i := 0; i < 4; i++ {
				_, _ = w.Write(feed)
				w.(http.Flusher).Flush()
			}
		case "/missing":
			http.NotFound(w, r)
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}
	})

	for _, tc := range []struct {
		path      string
		maxBytes  int64
		want      error
		transient bool
	}{
		{"/slow-headers", 0, ErrFeedTimeout, true},
		{"/stall", 0, ErrFeedTimeout, true},
		{"/truncated", 0, ErrFeedTruncated, true},
		{"/busy", 0, ErrFeedStatus, true},
		{"/big-announced", int64(len(feed) - 1), ErrFeedTooLarge, false},
		{"/big-chunked", int64(2 * len(feed)), ErrFeedTooLarge, false},
		{"/missing", 0, ErrFeedStatus, false},
		{"/to-file", 0, ErrFeedSource, false},
	} {
		t.Run(tc.path[1:], func(t *testing.T) {
			t.Parallel()
			b := setup(t, Options{ReadTimeout: 200 * time.Millisecond, MaxFeedBytes: tc.maxBytes})
			id := "f" + tc.path
			err := b.split(t, RunSpec{RunID: id, Source: url + tc.path, Format: tasks.FormatShopifyCSV, Supplier: "acme"})
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, tc.transient, IsTransientFetch(err), "%v", err)

			var fe *FeedError
			if tc.transient {
				require.NotErrorAs(t, err, &fe)
				_, err := b.c.Report(context.Background(), id)
				require.ErrorIs(t, err, ErrRunNotDone, "a retry re-attaches to the run")
				return
			}
			require.ErrorAs(t, err, &fe)
			rep, err := b.c.Report(context.Background(), id)
			require.NoError(t, err)
			require.Equal(t, StatusFailed, rep.Status)
			require.Zero(t, rep.Created)
			require.NotEmpty(t, rep.Warnings)
			entries, err := os.ReadDir(b.c.Options().WorkDir)
			require.NoError(t, err)
			require.Empty(t, entries, "no downloaded copy is left behind")
		})
	}
}

func TestLocalFeedLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxFeedBytes: 100})
	err := b.split(t, RunSpec{RunID: "big", Source: apparelCSV, Format: tasks.FormatShopifyCSV, Supplier: "acme"})
	require.ErrorIs(t, err, ErrFeedTooLarge)

	// A small gzip file that inflates past the cap.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(bytes.Repeat([]byte("a"), 10000))
	require.NoError(t, zw.Close())
	path := writeFile(t, "bomb.csv.gz", z.String())
	err = b.split(t, RunSpec{RunID: "bomb", Source: "file://" + path, Format: tasks.FormatShopifyCSV, Supplier: "acme"})
	require.ErrorIs(t, err, ErrFeedTooLarge)

	_, err = Fetch(context.Background(), "ftp://example.test/feed", Validators{}, FetchOptions{MaxBytes: 1})
	require.ErrorIs(t, err, ErrFeedSource)
}
