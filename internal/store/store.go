// Package store is the base of shopq's Redis data store: the shared client,
// the key prefix and the key layout. Each family (catalog, pricing,
// inventory, mail) keeps its data through its own package built on Store.
//
// Key layout (prefix "shopq:" by default, never "asynq:"):
//
//	{prefix}{<tag>}:<kind>...   per-entity keys; <tag> is a hash tag, so all
//	                            keys of one SKU (or order) live in one Redis
//	                            Cluster slot and one Lua script may touch them
//	{prefix}<kind>:...          global keys (indexes, streams, runs)
//
// Every idempotency record (ledger entries, mail effect keys, kept results)
// has a lifetime from Lifetimes, so memory does not grow without bound.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned when an entity (SKU, order, run) does not exist.
var ErrNotFound = errors.New("not found")

// DefaultPrefix is the default key prefix.
const DefaultPrefix = "shopq:"

// Lifetimes of idempotency and bookkeeping records.
type Lifetimes struct {
	// Ledger keeps inventory operation records (reserve, commit, ...).
	Ledger time.Duration
	// MailEffect keeps the record that an effect key's mail was sent.
	MailEffect time.Duration
	// Runs keeps catalog import reports and their feed chunks' results.
	Runs time.Duration
	// Chunks keeps feed chunks waiting for their tasks.
	Chunks time.Duration
}

// DefaultLifetimes are the lifetimes used when the configuration sets none.
func DefaultLifetimes() Lifetimes {
	return Lifetimes{
		Ledger:     30 * 24 * time.Hour,
		MailEffect: 30 * 24 * time.Hour,
		Runs:       7 * 24 * time.Hour,
		Chunks:     24 * time.Hour,
	}
}

// Store is the shared handle to the data store.
type Store struct {
	// RDB is the client; a go-redis universal client works on a single
	// server, Sentinel and Cluster.
	RDB redis.UniversalClient
	// Prefix starts every key; it contains no braces.
	Prefix    string
	Lifetimes Lifetimes
}

// New returns a Store; an empty prefix means DefaultPrefix, zero lifetimes
// mean their defaults.
func New(rdb redis.UniversalClient, prefix string, lt Lifetimes) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	d := DefaultLifetimes()
	for _, p := range []struct{ v, def *time.Duration }{
		{&lt.Ledger, &d.Ledger}, {&lt.MailEffect, &d.MailEffect}, {&lt.Runs, &d.Runs}, {&lt.Chunks, &d.Chunks},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return &Store{RDB: rdb, Prefix: prefix, Lifetimes: lt}
}

// Key joins parts under the prefix: Key("runs", id) = "shopq:runs:<id>".
func (s *Store) Key(parts ...string) string {
	return s.Prefix + strings.Join(parts, ":")
}

// TagKey returns a key in the hash slot of tag: TagKey("sku", "MUG", "stock")
// = "shopq:{sku:MUG}:stock". Keys built with the same kind and tag share a
// Redis Cluster slot.
func (s *Store) TagKey(kind, tag string, parts ...string) string {
	var b strings.Builder
	b.WriteString(s.Prefix)
	b.WriteByte('{')
	b.WriteString(kind)
	b.WriteByte(':')
	b.WriteString(escapeTag(tag))
	b.WriteByte('}')
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// escapeTag keeps braces out of a hash tag, which would end it early.
func escapeTag(s string) string {
	if !strings.ContainsAny(s, "{}%") {
		return s
	}
	r := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
	return r.Replace(s)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.RDB.Ping(ctx).Err()
}
