package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func TestCatalogImportCommand(t *testing.T) {
	t.Parallel()

	task, err := catalogImportCommand([]string{"--source", "feeds/home.csv", "--format", "shopify-csv",
		"--supplier", "garden", "--full", "--currency", "usd", "--force"})
	require.NoError(t, err)
	require.Equal(t, tasks.TypeCatalogImport, task.Type())
	var p tasks.CatalogImportPayload
	require.NoError(t, json.Unmarshal(task.Payload(), &p))
	abs, err := filepath.Abs("feeds/home.csv")
	require.NoError(t, err)
	require.Equal(t, tasks.CatalogImportPayload{Source: abs, Format: "shopify-csv", Supplier: "garden",
		Full: true, Currency: "USD", Force: true}, p)

	task, err = catalogImportCommand([]string{"--source", "https://feeds.example.test/a.xml", "--format",
		"merchant-xml", "--supplier", "acme"})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(task.Payload(), &p))
	require.Equal(t, "https://feeds.example.test/a.xml", p.Source)

	for _, args := range [][]string{
		{"--format", "shopify-csv", "--supplier", "a"},
		{"--source", "x.csv", "--format", "excel", "--supplier", "a"},
		{"--source", "x.csv", "--format", "jsonl"},
		{"--source", "ftp://x/y", "--format", "jsonl", "--supplier", "a"},
		{"--source", "x.csv", "--format", "jsonl", "--supplier", "a", "stray"},
		{"--nope"},
	} {
		_, err := catalogImportCommand(args)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%v", args)
	}
}
