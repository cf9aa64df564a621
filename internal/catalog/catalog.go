package catalog

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shopq/shopq/internal/store"
)

// Defaults of Options.
const (
	DefaultChunkSize          = 500
	DefaultChunkMaxBytes      = 1 << 20
	DefaultMaxFeedBytes       = 1 << 30
	DefaultConnectTimeout     = 10 * time.Second
	DefaultReadTimeout        = 30 * time.Second
	DefaultMaxDeactivateShare = 0.2
	DefaultCurrency           = "EUR"
	DefaultMaxPendingChunks   = 64
	DefaultMaxReportedRejects = 1000
	DefaultPollInterval       = 100 * time.Millisecond
)

// Options configure catalog runs. Zero values mean the defaults.
type Options struct {
	// ChunkSize is the number of products per chunk task. Default: 500.
	ChunkSize int
	// ChunkMaxBytes cuts a chunk early when its encoded products reach this
	// size, so no chunk value in Redis grows past it. Default: 1 MiB.
	ChunkMaxBytes int
	// MaxFeedBytes bounds a feed, compressed and uncompressed. Default: 1 GiB.
	MaxFeedBytes int64
	// ConnectTimeout bounds connecting to a feed server. Default: 10s.
	ConnectTimeout time.Duration
	// ReadTimeout bounds waiting for the feed server's headers and every
	// pause in its body. Default: 30s.
	ReadTimeout time.Duration
	// MaxDeactivateShare is the largest share (0-1] of a supplier's catalog
	// a full refresh may deactivate in one run. Default: 0.2.
	MaxDeactivateShare float64
	// DefaultCurrency applies to feeds whose prices carry none when the run
	// names none. Default: EUR.
	DefaultCurrency string
	// WorkDir holds downloaded feeds while they are read. Default: the
	// system's temporary directory.
	WorkDir string
	// MaxPendingChunks bounds the chunks written but not yet applied, so a
	// large feed never sits in Redis as a whole. Default: 64.
	MaxPendingChunks int
	// MaxReportedRejects bounds the rejected rows listed in a report; the
	// rest are counted. Default: 1000.
	MaxReportedRejects int
	// PollInterval is how often a waiting run checks its chunks. Default: 100ms.
	PollInterval time.Duration
}

func (o Options) withDefaults() Options {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&o.ChunkSize, DefaultChunkSize)
	setInt(&o.ChunkMaxBytes, DefaultChunkMaxBytes)
	setInt(&o.MaxPendingChunks, DefaultMaxPendingChunks)
	setInt(&o.MaxReportedRejects, DefaultMaxReportedRejects)
	setDur(&o.ConnectTimeout, DefaultConnectTimeout)
	setDur(&o.ReadTimeout, DefaultReadTimeout)
	setDur(&o.PollInterval, DefaultPollInterval)
	if o.MaxFeedBytes <= 0 {
		o.MaxFeedBytes = DefaultMaxFeedBytes
	}
	if o.MaxDeactivateShare <= 0 || o.MaxDeactivateShare > 1 {
		o.MaxDeactivateShare = DefaultMaxDeactivateShare
	}
	if o.DefaultCurrency == "" {
		o.DefaultCurrency = DefaultCurrency
	}
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	return o
}

// Catalog is the Redis-backed product catalog and its import runs.
type Catalog struct {
	st *store.Store
	o  Options
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// New returns a Catalog on st.
func New(st *store.Store, o Options) *Catalog {
	return &Catalog{st: st, o: o.withDefaults(), Now: time.Now}
}

// Options returns the options in effect, defaults applied.
func (c *Catalog) Options() Options { return c.o }

// Product returns a stored product, or store.ErrNotFound.
func (c *Catalog) Product(ctx context.Context, sku string) (Product, error) {
	m, err := c.st.RDB.HGetAll(ctx, c.st.ProductKey(sku)).Result()
	if err != nil {
		return Product{}, fmt.Errorf("product %s: %w", sku, err)
	}
	if len(m) == 0 || m[fSKU] == "" {
		return Product{}, fmt.Errorf("product %s: %w", sku, store.ErrNotFound)
	}
	return productFromHash(m), nil
}
