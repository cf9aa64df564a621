package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func slotsFrom(t *testing.T, e Entry, from time.Time, n int) []string {
	t.Helper()
	s, err := Parse(e)
	require.NoError(t, err)
	out := make([]string, 0, n)
	next := from
	for range n {
		next = s.Next(next)
		out = append(out, next.Format("01-02 15:04 MST"))
	}
	return out
}

func TestParseEveryIsEpochAligned(t *testing.T) {
	s, err := Parse(Entry{Cron: "@every 5s"})
	require.NoError(t, err)

	start := time.Date(2026, 5, 1, 10, 0, 3, 700_000_000, time.UTC)
	n1 := s.Next(start)
	require.Equal(t, time.Date(2026, 5, 1, 10, 0, 5, 0, time.UTC), n1)
	require.Equal(t, time.Date(2026, 5, 1, 10, 0, 10, 0, time.UTC), s.Next(n1))

	// Two processes started at different times agree on the slots.
	other := s.Next(start.Add(-2 * time.Second))
	require.Equal(t, n1, other)

	// The zone does not move @every slots.
	z, err := Parse(Entry{Cron: "@every 10m", TimeZone: "Asia/Kolkata"})
	require.NoError(t, err)
	require.Equal(t, int64(0), z.Next(start).Unix()%600)
}

func TestParseCronInZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)

	s, err := Parse(Entry{Cron: "0 3 * * *", TimeZone: "Europe/Berlin"})
	require.NoError(t, err)
	next := s.Next(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	require.Equal(t, time.Date(2026, 6, 2, 3, 0, 0, 0, berlin).Unix(), next.Unix())

	utc, err := Parse(Entry{Cron: "0 3 * * *"})
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC).Unix(),
		utc.Next(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)).Unix(), "empty time_zone means UTC")
}

// TestParseDaylightSaving pins the behaviour documented in doc.go for
// Europe/Berlin in 2026: spring forward on 29 March (02:00 -> 03:00), fall
// back on 25 October (03:00 -> 02:00).
func TestParseDaylightSaving(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	beforeSpring := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	beforeFall := time.Date(2026, 10, 24, 12, 0, 0, 0, berlin)
	entry := func(spec string) Entry { return Entry{Cron: spec, TimeZone: "Europe/Berlin"} }

	tests := []struct {
		name string
		spec string
		from time.Time
		want []string
	}{
		{"SkippedHourDoesNotRun", "30 2 * * *", beforeSpring,
			[]string{"03-30 02:30 CEST", "03-31 02:30 CEST"}},
		{"RepeatedHourRunsTwice", "30 2 * * *", beforeFall,
			[]string{"10-25 02:30 CEST", "10-25 02:30 CET", "10-26 02:30 CET"}},
		{"OutsideSwitchHourSpring", "0 3 * * *", beforeSpring,
			[]string{"03-29 03:00 CEST", "03-30 03:00 CEST"}},
		{"OutsideSwitchHourFall", "0 3 * * *", beforeFall,
			[]string{"10-25 03:00 CET", "10-26 03:00 CET"}},
		{"DailyAtLocalMidnight", "@daily", beforeSpring,
			[]string{"03-29 00:00 CET", "03-30 00:00 CEST", "03-31 00:00 CEST"}},
		{"HalfHourlySkipsMissingHour", "*/30 1-3 * * *", beforeSpring,
			[]string{"03-29 01:00 CET", "03-29 01:30 CET", "03-29 03:00 CEST", "03-29 03:30 CEST"}},
		{"HalfHourlyRepeatsHour", "*/30 1-3 * * *", beforeFall,
			[]string{"10-25 01:00 CEST", "10-25 01:30 CEST", "10-25 02:00 CEST", "10-25 02:30 CEST",
				"10-25 02:00 CET", "10-25 02:30 CET", "10-25 03:00 CET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, slotsFrom(t, entry(tt.spec), tt.from, len(tt.want)))
		})
	}

	// Hourly specs follow real hours: 23 runs on the spring day, 25 in fall.
	hourly, err := Parse(entry("0 * * * *"))
	require.NoError(t, err)
	for day, want := range map[time.Time]int{
		time.Date(2026, 3, 29, 0, 0, 0, 0, berlin):  23,
		time.Date(2026, 10, 25, 0, 0, 0, 0, berlin): 25,
	} {
		n, end := 0, day.AddDate(0, 0, 1)
		for next := hourly.Next(day.Add(-time.Second)); next.Before(end); next = hourly.Next(next) {
			n++
		}
		require.Equal(t, want, n, day.Format(time.DateOnly))
	}

	// The two 02:30 runs on the fall-back day are distinct slots, one hour
	// apart in real time, so both are claimed and enqueued.
	s, err := Parse(entry("30 2 * * *"))
	require.NoError(t, err)
	first := s.Next(beforeFall)
	require.Equal(t, time.Hour, s.Next(first).Sub(first))
}

func TestCompileRejectsBrokenEntries(t *testing.T) {
	good := Entry{Name: "stock", Cron: "@every 1m", Task: tasks.TypeInventorySet,
		Payload: map[string]any{"sku": "MUG", "on_hand": 3, "version": 1}}
	_, err := compile(good)
	require.NoError(t, err)

	tests := []struct {
		name   string
		change func(e *Entry)
		want   string
	}{
		{"EmptyCron", func(e *Entry) { e.Cron = "" }, "cron: is empty"},
		{"BadCron", func(e *Entry) { e.Cron = "61 * * * *" }, "cron"},
		{"SixFields", func(e *Entry) { e.Cron = "0 0 3 * * *" }, "cron"},
		{"TZPrefix", func(e *Entry) { e.Cron = "CRON_TZ=UTC 0 3 * * *" }, "time_zone"},
		{"BadZone", func(e *Entry) { e.TimeZone = "Mars/Olympus" }, "time_zone"},
		{"UnknownType", func(e *Entry) { e.Task = "inventory:teleport" }, "unknown task type"},
		{"InvalidPayload", func(e *Entry) { e.Payload = map[string]any{"sku": "MUG", "on_hand": -1, "version": 1} }, "on_hand"},
		{"NoPayload", func(e *Entry) { e.Payload = nil }, "sku"},
		{"BadName", func(e *Entry) { e.Name = "a b" }, "name"},
		{"NegativeTimeout", func(e *Entry) { e.Timeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.change(&e)
			_, err := compile(e)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestCompileNestedYAMLPayload(t *testing.T) {
	e := Entry{Name: "stock", Cron: "@hourly", Task: tasks.TypeInventorySet, Queue: "low", MaxRetry: 2,
		Payload: map[string]any{"sku": "MUG", "on_hand": 3, "version": 1}}
	c, err := compile(e)
	require.NoError(t, err)
	require.JSONEq(t, `{"sku":"MUG","on_hand":3,"version":1}`, string(c.task.Payload()))

	v, err := jsonable(map[string]any{"a": map[any]any{"b": []any{map[any]any{"c": 1}}}})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": 1}}}}, v)
}
