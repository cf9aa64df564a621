// Package catalog keeps the product catalog fed by supplier feeds: it reads
// feeds (Shopify product CSV, Google Merchant Center TSV and RSS XML, and
// shopq's JSON Lines), validates every row, splits the valid products into
// chunks kept in Redis, applies each chunk with pipelined upserts that skip
// unchanged products, and, once the last chunk is done, finishes the run
// (deactivation on a full refresh, the run report).
//
// The package holds no asynq code: handlers/catalog.go runs the steps as
// tasks (catalog:import splits, catalog:chunk applies) and enqueues the
// follow-ups this package returns.
//
// Redis keys, besides the catalog keys of internal/store (keys.go):
//
//	{prefix}{run:<id>}:run         hash: state, counters, parse rejects, report
//	{prefix}{run:<id>}:chunk:<n>   string: one chunk's products (JSON Lines)
//	{prefix}{run:<id>}:done        set: numbers of the chunks applied
//	{prefix}{run:<id>}:warnings    list: chunk warnings (a chunk expired)
//	{prefix}{run:<id>}:seen        string: sorted SKU digests of the feed (full refresh)
//	{prefix}catalog:feed:<sup>:<h> hash: ETag / Last-Modified of a feed URL
//
// Run keys live for Store.Lifetimes.Runs, chunks for Lifetimes.Chunks.
package catalog
