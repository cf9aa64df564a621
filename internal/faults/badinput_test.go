package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/schedule"
	"github.com/shopq/shopq/tasks"
)

// badPayloads are payloads a producer may send, each with the words its
// error must contain.
var badPayloads = []struct {
	name, typ, payload string
	want               []string
}{
	{"unknown type", "orders:explode", `{}`, []string{"unknown task type", "orders:explode"}},
	{"empty", "inventory:reserve", ``, []string{"payload", "empty"}},
	{"malformed", "inventory:reserve", `{"sku": "A", "quantity": 2`, []string{"payload", "malformed JSON"}},
	{"trailing data", "inventory:reserve", `{"sku":"A","quantity":1,"operation_id":"o"} {}`, []string{"trailing data"}},
	{"not an object", "prices:update", `[1,2,3]`, []string{"payload", "an object"}},
	{"quantity as string", "inventory:reserve", `{"sku":"A","quantity":"3","operation_id":"o"}`, []string{"quantity", "an integer"}},
	{"quantity as float", "inventory:reserve", `{"sku":"A","quantity":1.5,"operation_id":"o"}`, []string{"quantity"}},
	{"negative quantity", "inventory:reserve", `{"sku":"A","quantity":-1,"operation_id":"o"}`, []string{"quantity"}},
	{"absurd quantity", "inventory:reserve", `{"sku":"A","quantity":999999999999999,"operation_id":"o"}`, []string{"quantity"}},
	{"huge number", "inventory:adjust", `{"sku":"A","delta":1e300,"reason":"delivery","operation_id":"o"}`, []string{"delta"}},
	{"zero delta", "inventory:adjust", `{"sku":"A","delta":0,"reason":"delivery","operation_id":"o"}`, []string{"delta"}},
	{"unknown reason", "inventory:adjust", `{"sku":"A","delta":1,"reason":"theft?","operation_id":"o"}`, []string{"reason"}},
	{"negative price", "prices:update", `{"sku":"A","amount":-5,"currency":"EUR","version":1}`, []string{"amount"}},
	{"absurd price", "prices:update", `{"sku":"A","amount":9000000000000000000,"currency":"EUR","version":1}`, []string{"amount"}},
	{"price as string", "prices:update", `{"sku":"A","amount":"12,99€","currency":"EUR","version":1}`, []string{"amount"}},
	{"invalid currency", "prices:update", `{"sku":"A","amount":5,"currency":"EURO","version":1}`, []string{"currency"}},
	{"lower-case currency", "prices:update", `{"sku":"A","amount":5,"currency":"eur","version":1}`, []string{"currency"}},
	{"no version", "prices:update", `{"sku":"A","amount":5,"currency":"EUR"}`, []string{"version"}},
	{"bad sale window", "prices:update", `{"sku":"A","amount":5,"currency":"EUR","version":1,"sale_amount":4,"sale_starts_at":"tomorrow"}`, []string{"sale_starts_at"}},
	{"empty sku", "inventory:set", `{"sku":"","on_hand":1,"version":1}`, []string{"sku"}},
	{"sku with newline", "inventory:set", `{"sku":"A\nB","on_hand":1,"version":1}`, []string{"sku"}},
	{"bad time zone", "promotions:upsert", `{"id":"p","name":"P","discount":{"percent":10},"target":{"skus":["A"]},"starts_at":"2026-06-01","ends_at":"2026-06-30","time_zone":"Mars/Olympus_Mons"}`, []string{"time_zone"}},
	{"bad window", "promotions:upsert", `{"id":"p","name":"P","discount":{"percent":10},"target":{"skus":["A"]},"starts_at":"2026-13-01","ends_at":"2026-06-30"}`, []string{"starts_at"}},
	{"bad mail address", "mail:send", `{"template":"order-confirmation","to":"not an address","effect_key":"k"}`, []string{"to"}},
	{"unknown template", "mail:send", `{"template":"../../etc/passwd","to":"a@example.test","effect_key":"k"}`, []string{"template"}},
	{"order without lines", "orders:place", `{"order_id":"o","email":"a@example.test","lines":[]}`, []string{"lines"}},
	{"order mixed currencies", "orders:place", `{"order_id":"o","email":"a@example.test","lines":[{"line_id":"1","sku":"A","quantity":1,"unit_amount":1,"currency":"EUR"},{"line_id":"2","sku":"B","quantity":1,"unit_amount":1,"currency":"USD"}]}`, []string{"lines[1].currency"}},
	{"feed scheme", "catalog:import", `{"source":"ftp://example.test/feed.csv","format":"shopify-csv","supplier":"s"}`, []string{"source", "ftp"}},
	{"invalid UTF-8", "inventory:set", "{\"sku\":\"A\xff\",\"on_hand\":1,\"version\":1}", []string{"payload", "UTF-8"}},
	{"invalid UTF-8 in mail data", "mail:send", "{\"template\":\"order-confirmation\",\"to\":\"a@example.test\",\"effect_key\":\"k\",\"data\":{\"n\":\"\xc3\x28\"}}", []string{"UTF-8"}},
	{"feed format", "catalog:import", `{"source":"feed.csv","format":"excel","supplier":"s"}`, []string{"format"}},
}

// Every producer entrance refuses bad input with an error naming what is
// wrong: the JSON entrance (any type), the typed constructors, the cron
// and time zone checks of schedules.
func TestBadInputRefusedAtEnqueue(t *testing.T) {
	t.Parallel()
	for _, c := range badPayloads {
		_, err := tasks.NewTaskFromJSON(c.typ, []byte(c.payload))
		require.Error(t, err, c.name)
		for _, w := range c.want {
			require.Contains(t, err.Error(), w, "%s: %v", c.name, err)
		}
	}

	huge := `{"template":"order-confirmation","to":"a@example.test","effect_key":"k","data":{"x":"` +
		strings.Repeat("a", tasks.MaxPayloadBytes) + `"}}`
	_, err := tasks.NewTaskFromJSON(tasks.TypeMailSend, []byte(huge))
	require.ErrorContains(t, err, "above the limit")
	_, err = tasks.NewMailSendTask(tasks.MailSendPayload{Template: tasks.TemplateOrderConfirmation,
		To: "a@example.test", EffectKey: "k", Data: map[string]any{"x": strings.Repeat("a", tasks.MaxPayloadBytes)}})
	require.ErrorContains(t, err, "above the limit")

	// Every type but the parameterless sweeps refuses an empty object and
	// names a field.
	for _, s := range tasks.Specs() {
		_, err := tasks.NewTaskFromJSON(s.Type, []byte(`{}`))
		if err == nil {
			continue
		}
		require.Regexp(t, `^[a-z_\[\]0-9.]+: `, err.Error(), s.Type)
	}

	_, err = tasks.NewOrderPlaceTask(tasks.OrderPlacePayload{OrderID: "o", Email: "a@example.test",
		Lines: []tasks.OrderLine{{LineID: "1", SKU: "A", Quantity: -2, UnitAmount: 1, Currency: "EUR"}}})
	require.ErrorContains(t, err, "lines[0].quantity")
	_, err = tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{SKU: "A", Amount: 1, Currency: "ZZZ", Version: 1})
	require.ErrorContains(t, err, "currency")

	for _, c := range []struct {
		e    schedule.Entry
		want string
	}{
		{schedule.Entry{Name: "n", Cron: "61 * * * *", Task: tasks.TypeInventoryExpireSweep}, "cron"},
		{schedule.Entry{Name: "n", Cron: "every tuesday", Task: tasks.TypeInventoryExpireSweep}, "cron"},
		{schedule.Entry{Name: "n", Cron: "0 3 * * *", TimeZone: "Europe/Atlantis", Task: tasks.TypeInventoryExpireSweep}, "Europe/Atlantis"},
		{schedule.Entry{Name: "n", Cron: "0 3 * * *", Task: "nope:nothing"}, "nope:nothing"},
	} {
		err := schedule.Check(c.e)
		require.Error(t, err, "%+v", c.e)
		require.Contains(t, err.Error(), c.want)
	}
}

// The enqueue command refuses bad payloads with exit code 2, naming the
// field, before it connects to Redis.
func TestEnqueueCommandRefusesBadInput(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the enqueue command")
	}
	bin := binary(t, "enqueue")
	for _, c := range badPayloads {
		cmd := exec.Command(bin, c.typ, "--json", "-")
		cmd.Stdin = strings.NewReader(c.payload)
		cmd.Env = append(os.Environ(), "SHOPQ_REDIS_URL=redis://127.0.0.1:1/0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		require.Error(t, err, c.name)
		require.Equal(t, 2, cmd.ProcessState.ExitCode(), "%s: %s", c.name, out.String())
		// The last word is the field (or the type) at fault.
		require.Contains(t, out.String(), c.want[len(c.want)-1], c.name)
	}
}

// Raw tasks put on the queues with plain asynq, bypassing validation, are
// archived on their first attempt with a reason naming the fault; broken
// feeds end in a report naming the bad rows or a failed run saying why;
// good tasks enqueued alongside complete.
func TestBadInputArchivedFirstAttemptNothingElseAffected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "")
	inv := inventory.New(e.Store, inventory.Options{LowStockThreshold: -1})
	_, err := inv.Set(ctx, "GOOD", 10, 1, "")
	require.NoError(t, err)

	raw := []struct {
		typ, queue, payload, want string
	}{
		{"inventory:reserve", "critical", `{"sku":"GOOD","quantity":`, "malformed JSON"},
		{"inventory:reserve", "critical", `{"sku":"GOOD","quantity":"2","operation_id":"x"}`, "quantity"},
		{"inventory:adjust", "critical", `{"sku":"GOOD","delta":-99999999999999,"reason":"damage","operation_id":"y"}`, "delta"},
		{"prices:update", "default", `{"sku":"GOOD","amount":-1,"currency":"EUR","version":1}`, "amount"},
		{"prices:update", "default", `{"sku":"GOOD","amount":1,"currency":"XYZ","version":1}`, "currency"},
		{"mail:send", "default", `{"template":"order-confirmation","to":42,"effect_key":"k"}`, "to"},
		{"orders:place", "critical", `{"order_id":"o","email":"a@example.test","lines":[{"line_id":"1","sku":"GOOD","quantity":0,"unit_amount":1,"currency":"EUR"}]}`, "quantity"},
		{"promotions:upsert", "default", `{"id":"p","name":"P","discount":{"percent":10},"target":{"skus":["GOOD"]},"starts_at":"2026-06-01","ends_at":"2026-06-30","time_zone":"Nowhere/Special"}`, "time_zone"},
		{"catalog:import", "low", `{"source":"gopher://x","format":"shopify-csv","supplier":"s"}`, "source"},
		{"faults:no-such-type", "default", `{}`, "faults:no-such-type"},
		{"inventory:reserve", "critical", "{\"sku\":\"GOOD\xff\",\"quantity\":1,\"operation_id\":\"u\"}", "UTF-8"},
		{"inventory:reserve", "critical", strings.Repeat(" ", 1<<20) + "{}", "sku"},
	}
	ids := map[string]string{}
	for _, r := range raw {
		info, err := e.Cli.Enqueue(asynq.NewTask(r.typ, []byte(r.payload)), asynq.Queue(r.queue), asynq.MaxRetry(5))
		require.NoError(t, err)
		ids[info.ID] = r.want
	}

	// Broken feeds: truncated mid-row, Latin-1 instead of UTF-8, a 3 MB line.
	src, err := os.ReadFile("../../testdata/shopify/apparel.csv")
	require.NoError(t, err)
	feeds := map[string][]byte{
		"truncated.csv": src[:len(src)*2/3],
		"latin1.csv":    latin1(src),
		"hugeline.csv":  append(append([]byte{}, src...), append([]byte("huge-line,"), bytes.Repeat([]byte("x"), 3<<20)...)...),
		"binary.csv":    bytes.Repeat([]byte{0, 1, 2, 0xff, '"'}, 1000),
	}
	var runs []string
	for name, data := range feeds {
		path := filepath.Join(e.Dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o600))
		run := "bad-" + strings.TrimSuffix(name, ".csv")
		runs = append(runs, run)
		e.enqueue(tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
			Source: path, Format: tasks.FormatShopifyCSV, Supplier: run, RunID: run,
		}))
	}

	// Good tasks alongside.
	e.enqueue(tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{SKU: "GOOD", Delta: 5, Reason: "delivery", OperationID: "good-1"}))
	e.enqueue(tasks.NewPriceUpdateTask(tasks.PriceUpdatePayload{SKU: "GOOD", Amount: 1234, Currency: "EUR", Version: 7}))

	wk := e.startWorker(e.writeConfig("worker.yaml", "http:\n  addr: \"\"\n"))
	wk.waitStarted()
	e.waitIdle(2 * time.Minute)

	for _, q := range queues {
		archived, err := e.Insp.ListArchivedTasks(q, asynq.PageSize(100))
		if err != nil {
			continue
		}
		for _, a := range archived {
			want, ok := ids[a.ID]
			if !ok {
				continue
			}
			require.Zero(t, a.Retried, "%s archived on its first attempt", a.Type)
			require.Contains(t, a.LastErr, want, "%s: %s", a.Type, a.LastErr)
			delete(ids, a.ID)
		}
	}
	require.Empty(t, ids, "raw bad tasks not archived")

	cat := catalog.New(e.Store, catalog.Options{})
	for _, run := range runs {
		rep, err := cat.Report(ctx, run)
		require.NoError(t, err, run)
		t.Logf("%s: %s rows=%d created=%d updated=%d skipped=%d rejected=%d %v %v", run, rep.Status, rep.Rows,
			rep.Created, rep.Updated, rep.Skipped, rep.RejectedCount, firstRejects(rep), rep.Warnings)
		switch rep.Status {
		case "failed":
			require.NotEmpty(t, rep.Warnings, "%s: a failed run says why", run)
		case "completed_with_errors":
			require.NotEmpty(t, rep.Rejected, run)
			for _, r := range rep.Rejected {
				require.Positive(t, r.Row, "%s: rejected rows are numbered", run)
				require.NotEmpty(t, r.Reason, run)
			}
		default:
			t.Fatalf("%s: status %q for a broken feed", run, rep.Status)
		}
	}

	lvl, err := inv.Level(ctx, "GOOD")
	require.NoError(t, err)
	require.EqualValues(t, 15, lvl.OnHand, "the good adjust applied, the bad ones not")
	require.Zero(t, lvl.Reserved)
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
}

// latin1 turns the first "e" of data rows 2 and 3 into the Latin-1 byte of
// "é", which is not UTF-8.
func latin1(src []byte) []byte {
	lines := bytes.Split(src, []byte("\n"))
	for _, i := range []int{2, 3} {
		lines[i] = bytes.Replace(lines[i], []byte("e"), []byte{0xe9}, 1)
	}
	return bytes.Join(lines, []byte("\n"))
}

func firstRejects(rep tasks.CatalogImportResult) string {
	var b strings.Builder
	for i, r := range rep.Rejected {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "[row %d: %s] ", r.Row, r.Reason)
	}
	return b.String()
}
