// Package fuzz holds fuzz targets for shopq's decoders and parsers that
// have none next to them: task payloads of every registered type, the
// configuration loader, the order replay CSV, schedules and promotion
// window times. scripts/test.sh runs each for a few seconds; `make fuzz`
// runs them longer.
package fuzz

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/internal/schedule"
	"github.com/shopq/shopq/tasks"
)

// payloadSeeds are valid payloads of several types, starting points for
// the fuzzer's mutations.
var payloadSeeds = []string{
	`{"sku":"A-1","quantity":2,"operation_id":"op-1"}`,
	`{"sku":"A-1","delta":-3,"reason":"damage","operation_id":"op-2"}`,
	`{"sku":"A-1","on_hand":10,"version":3}`,
	`{"items":[{"sku":"A-1","on_hand":10,"version":3}]}`,
	`{"sku":"A-1","amount":1299,"currency":"EUR","version":5,"sale_amount":999,"sale_starts_at":"2026-01-01T00:00:00Z","sale_ends_at":"2026-02-01T00:00:00Z"}`,
	`{"template":"order-confirmation","to":"Zoë <z@example.test>","effect_key":"k-1","data":{"a":[1,2,{"b":null}]}}`,
	`{"order_id":"o-1","email":"a@example.test","lines":[{"line_id":"1","sku":"A-1","quantity":1,"unit_amount":100,"currency":"EUR"}],"placed_at":"2026-01-01T10:00:00+01:00"}`,
	`{"id":"p","name":"P","discount":{"percent":10},"target":{"skus":["A-1"]},"starts_at":"2026-03-29","ends_at":"2026-03-29T02:30:00","time_zone":"Europe/Berlin"}`,
	`{"source":"https://example.test/feed.csv","format":"shopify-csv","supplier":"s","full":true}`,
	`{"run_id":"r","chunk":3}`,
	`{}`, `null`, `[]`, `""`, `{"sku":"\u0000"}`, `{"quantity":1e400}`,
}

// FuzzDecodePayloads feeds every registered task type arbitrary JSON: the
// validation never panics, and a payload it accepts is accepted again as
// encoded, fits the size limit, and decodes in the worker's handler path.
func FuzzDecodePayloads(f *testing.F) {
	specs := tasks.Specs()
	for i := range specs {
		for _, s := range payloadSeeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		spec := specs[int(typ)%len(specs)]
		task, err := tasks.NewTaskFromJSON(spec.Type, payload)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		require.Equal(t, spec.Type, task.Type())
		require.LessOrEqual(t, len(task.Payload()), tasks.MaxPayloadBytes)
		require.True(t, json.Valid(task.Payload()))
		require.NoError(t, spec.Validate(task.Payload()), "accepted payload refused when decoded again")
		again, err := tasks.NewTaskFromJSON(spec.Type, task.Payload())
		require.NoError(t, err)
		require.Equal(t, task.Payload(), again.Payload())
	})
}

// FuzzConfigLoad loads arbitrary YAML as the configuration file: it never
// panics, and a configuration it accepts can be printed.
func FuzzConfigLoad(f *testing.F) {
	for _, s := range []string{
		"redis:\n  url: redis://127.0.0.1:6379/0\n",
		"worker:\n  concurrency: 5\n  queues: {critical: 6, default: 3}\n  shutdown_timeout: 10s\n",
		"worker:\n  queues: critical=6,low=1\n",
		"schedules:\n  - name: n\n    cron: '0 3 * * *'\n    time_zone: Europe/Berlin\n    task: inventory:expire-sweep\n",
		"mail:\n  operators: [a@example.test]\n  smtp: {port: 587, tls: mandatory}\n",
		"log: {level: debug, format: text}\nhttp: {addr: ''}\n",
		"worker:\n  shutdown_timeout: 30\n",
		"{",
		"- a\n- b\n",
		"redis: [1, 2]\n",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "shopq.yaml")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		cfg, err := config.Load(path)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		_, err = cfg.YAML()
		require.NoError(t, err)
	})
}

// FuzzPlanReplay plans the replay of arbitrary CSV: it never panics, and
// each planned task passes the contract's validation.
func FuzzPlanReplay(f *testing.F) {
	sample, err := os.ReadFile("../../../testdata/online-retail/online-retail-10k.csv")
	require.NoError(f, err)
	lines := bytes.SplitAfter(sample, []byte("\n"))
	f.Add(bytes.Join(lines[:min(20, len(lines))], nil))
	f.Add([]byte("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n" +
		"536365,85123A,\"WHITE \"\"HEART\"\"\",6,3/27/2011 1:30,2.55,,United Kingdom\n"))
	f.Add([]byte("InvoiceNo,StockCode\n1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		plan, err := orders.PlanReplay(bytes.NewReader(data), orders.ReplayOptions{SeedStock: 10})
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		_ = plan
	})
}

// FuzzScheduleCheck checks arbitrary cron specs and time zones: never a
// panic, and an error for every spec robfig's parser would not take.
func FuzzScheduleCheck(f *testing.F) {
	for _, s := range [][2]string{
		{"0 3 * * *", "Europe/Berlin"}, {"@every 10m", ""}, {"*/5 1-3 * * MON-FRI", "America/New_York"},
		{"61 * * * *", ""}, {"@every -1s", ""}, {"0 0 31 2 *", "UTC"}, {"* * * * * *", "Local"},
		{"0 3 * * *", "../../etc/passwd"}, {"CRON_TZ=Asia/Tokyo 0 3 * * *", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, spec, zone string) {
		err := schedule.Check(schedule.Entry{Name: "fuzz", Cron: spec, TimeZone: zone, Task: tasks.TypeInventoryExpireSweep})
		if err != nil {
			require.NotEmpty(t, err.Error())
		}
	})
}

// FuzzParseWindowTime parses arbitrary promotion window times and zones.
func FuzzParseWindowTime(f *testing.F) {
	for _, s := range []string{"2026-03-29", "2026-03-29T02:30:00", "2026-10-25T02:30:00+02:00", "2026-02-30", "9999-12-31T23:59:59"} {
		f.Add(s, "Europe/Berlin", true)
		f.Add(s, "", false)
	}
	f.Fuzz(func(t *testing.T, v, zone string, end bool) {
		ts, err := tasks.ParseWindowTime(v, zone, end)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		if ts.Year() < 1 || ts.Year() > 9999 {
			return
		}
		// The instant survives being written as RFC 3339 and read back.
		back, err := tasks.ParseWindowTime(ts.Format(time.RFC3339Nano), "", end)
		require.NoError(t, err, "%q in %q gave %s", v, zone, ts)
		require.True(t, ts.Equal(back), "%q in %q gave %s, read back as %s", v, zone, ts, back)
	})
}
