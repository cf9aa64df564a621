package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/app"
	"github.com/shopq/shopq/internal/schedule"
)

const testConfig = `
schedules:
  - name: nightly-catalog
    cron: "0 3 * * *"
    time_zone: Europe/Berlin
    task: catalog:import
    payload: {source: "https://supplier.example/feed.csv", format: shopify-csv, supplier: acme, full: true}
    queue: low
    timeout: 45m
  - name: stock-take
    cron: "@every 10m"
    task: inventory:set
    payload:
      sku: MUG
      on_hand: 12
      version: 3
  - name: broken
    cron: "0 3 * *"
    task: inventory:set
    payload: {sku: MUG, on_hand: 1, version: 1}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shopq.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestLoadEntriesFromFile(t *testing.T) {
	path := writeConfig(t, testConfig)
	entries, err := app.LoadSchedules(path)
	require.NoError(t, err)
	require.Len(t, entries, 3+len(app.MaintenanceSchedules()), "configured entries plus maintenance jobs")

	require.Equal(t, "Europe/Berlin", entries[0].TimeZone)
	require.Equal(t, 45*time.Minute, entries[0].Timeout)
	require.Equal(t, "acme", entries[0].Payload["supplier"])
	require.NoError(t, schedule.Check(entries[0]))
	require.NoError(t, schedule.Check(entries[1]), "a block-style payload decodes too")
	require.ErrorContains(t, schedule.Check(entries[2]), "cron")
}

func TestCheckEntries(t *testing.T) {
	cfg, err := config.Load(writeConfig(t, testConfig))
	require.NoError(t, err)
	var out bytes.Buffer
	require.Equal(t, 1, checkEntries(cfg, &out))
	require.Contains(t, out.String(), "schedules[0] nightly-catalog: ok")
	require.Contains(t, out.String(), "schedules[2] broken: cron")

	cfg.Schedules = cfg.Schedules[:2]
	out.Reset()
	require.Zero(t, checkEntries(cfg, &out))
}
