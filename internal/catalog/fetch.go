package catalog

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Fetch errors. ErrFeedTimeout and ErrFeedTruncated are worth retrying;
// the others are not.
var (
	ErrFeedTimeout   = errors.New("feed timed out")
	ErrFeedTruncated = errors.New("feed truncated")
	ErrFeedTooLarge  = errors.New("feed too large")
	ErrFeedStatus    = errors.New("feed server answered")
	ErrFeedSource    = errors.New("feed source not allowed")
)

// IsTransientFetch reports whether a fetch error may go away on retry: a
// timeout, a cut connection, a 5xx, 408 or 429.
func IsTransientFetch(err error) bool {
	if errors.Is(err, ErrFeedSource) || errors.Is(err, ErrFeedTooLarge) {
		return false
	}
	if errors.Is(err, ErrFeedTimeout) || errors.Is(err, ErrFeedTruncated) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests
	}
	var oe *net.OpError
	return errors.As(err, &oe) // refused, reset, DNS hiccups
}

// StatusError is an HTTP answer other than 200 or 304.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("%v %d", ErrFeedStatus, e.Code) }

// Unwrap makes errors.Is(err, ErrFeedStatus) true.
func (e *StatusError) Unwrap() error { return ErrFeedStatus }

// Validators are an HTTP feed's conditional GET validators.
type Validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// FetchOptions bound a fetch.
type FetchOptions struct {
	// ConnectTimeout bounds dialing and the TLS handshake.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for the response headers and every gap
	// between two reads of the body.
	ReadTimeout time.Duration
	// MaxBytes bounds the feed, compressed and uncompressed.
	MaxBytes int64
	// WorkDir holds downloaded feeds while they are read.
	WorkDir string
}

// Feed is a fetched feed, ready to read from a local file.
type Feed struct {
	// NotModified is true when the server answered 304 to the validators.
	NotModified bool
	Validators  Validators
	path        string
	spooled     bool
	maxBytes    int64
}

// Open returns the feed's content, gunzipped when it is gzip, failing with
// ErrFeedTooLarge past the size cap.
func (f *Feed) Open() (io.ReadCloser, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("open feed: %w", err)
	}
	if st, err := file.Stat(); err == nil && st.Size() > f.maxBytes {
		_ = file.Close()
		return nil, fmt.Errorf("%w: %d bytes, above the limit of %d", ErrFeedTooLarge, st.Size(), f.maxBytes)
	}
	r, err := maybeGunzip(file)
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&capReader{r: r, left: f.maxBytes}, file}, nil
}

// Close removes a downloaded copy.
func (f *Feed) Close() error {
	if f.spooled {
		return os.Remove(f.path)
	}
	return nil
}

// Fetch gets a feed from a local path, a file:// URL or an http(s) URL.
// HTTP feeds are downloaded to WorkDir first, so a truncated or oversized
// body is found before any row is imported; prev makes the request
// conditional.
func Fetch(ctx context.Context, source string, prev Validators, o FetchOptions) (*Feed, error) {
	u, err := url.Parse(source)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // a path (or C:\ ...)
		return localFeed(source, o)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		return localFeed(u.Path, o)
	case "http", "https":
		return fetchHTTP(ctx, u, prev, o)
	}
	return nil, fmt.Errorf("%w: scheme %q", ErrFeedSource, u.Scheme)
}

func localFeed(path string, o FetchOptions) (*Feed, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("feed file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrFeedSource, path)
	}
	if st.Size() > o.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, above the limit of %d", ErrFeedTooLarge, st.Size(), o.MaxBytes)
	}
	return &Feed{path: path, maxBytes: o.MaxBytes}, nil
}

func fetchHTTP(ctx context.Context, u *url.URL, prev Validators, o FetchOptions) (*Feed, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("feed request: %w", err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}

	resp, err := httpClient(o).Do(req)
	if err != nil {
		if isTimeout(err) {
			return nil, fmt.Errorf("%w: %w", ErrFeedTimeout, err)
		}
		return nil, fmt.Errorf("get feed: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	val := Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return &Feed{NotModified: true, Validators: prev}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, &StatusError{Code: resp.StatusCode}
	case resp.ContentLength > o.MaxBytes:
		return nil, fmt.Errorf("%w: %d bytes announced, above the limit of %d",
			ErrFeedTooLarge, resp.ContentLength, o.MaxBytes)
	}

	path, err := spool(ctx, cancel, resp, o)
	if err != nil {
		return nil, err
	}
	return &Feed{Validators: val, path: path, spooled: true, maxBytes: o.MaxBytes}, nil
}

func httpClient(o FetchOptions) *http.Client {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ReadTimeout,
		DisableCompression:    true, // we ask for gzip and gunzip ourselves, under the size cap
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return fmt.Errorf("%w: redirect to scheme %q", ErrFeedSource, s)
			}
			if len(via) >= 5 {
				return fmt.Errorf("%w: more than 5 redirects", ErrFeedSource)
			}
			return nil
		},
	}
}

// spool copies the body, gunzipped, to a file in WorkDir. A gap of
// ReadTimeout between two reads cancels the request.
func spool(ctx context.Context, cancel context.CancelFunc, resp *http.Response, o FetchOptions) (string, error) {
	var fired atomic.Bool
	timer := time.AfterFunc(o.ReadTimeout, func() { fired.Store(true); cancel() })
	defer timer.Stop()
	body := &idleReader{r: resp.Body, t: timer, d: o.ReadTimeout}

	var r io.Reader = &capReader{r: body, left: o.MaxBytes}
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", fetchErr(err, &fired)
		}
		r = zr
	}
	r, err := maybeGunzip(r) // a .gz file served as is
	if err != nil {
		return "", fetchErr(err, &fired)
	}
	f, err := os.CreateTemp(o.WorkDir, "shopq-feed-*")
	if err != nil {
		return "", fmt.Errorf("spool feed: %w", err)
	}
	_, err = io.Copy(f, &capReader{r: r, left: o.MaxBytes})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fetchErr(err, &fired)
	}
	return f.Name(), nil
}

func fetchErr(err error, fired *atomic.Bool) error {
	switch {
	case errors.Is(err, ErrFeedTooLarge):
		return err
	case fired.Load() || isTimeout(err):
		return fmt.Errorf("%w: no data for the read timeout: %w", ErrFeedTimeout, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: %w", ErrFeedTruncated, err)
	}
	return fmt.Errorf("read feed: %w", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// idleReader pushes the read timeout back after every read.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.t.Reset(i.d)
	}
	return n, err
}

// capReader fails with ErrFeedTooLarge once more than left bytes are read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrFeedTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, fmt.Errorf("%w: above the limit", ErrFeedTooLarge)
	}
	return n, err
}

// maybeGunzip gunzips r when it starts with gzip's magic bytes.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(2); err == nil && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gunzip feed: %w", err)
		}
		return zr, nil
	}
	return br, nil
}
