package tasks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseWindowTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v, zone string
		end     bool
		want    string
	}{
		{"2025-06-01T00:00:00", "Europe/Berlin", false, "2025-05-31T22:00:00Z"},
		{"2025-06-30", "Europe/Berlin", true, "2025-06-30T22:00:00Z"},
		{"2025-06-30", "Europe/Berlin", false, "2025-06-29T22:00:00Z"},
		{"2025-06-01T00:00:00+02:00", "America/New_York", false, "2025-05-31T22:00:00Z"},
		{"2025-06-01 09:30", "", false, "2025-06-01T09:30:00Z"},
		// The repeated hour when summer time ends: the first occurrence.
		{"2025-10-26T02:00:00", "Europe/Berlin", false, "2025-10-26T00:00:00Z"},
		{"2025-10-26T02:59:59", "Europe/Berlin", true, "2025-10-26T00:59:59Z"},
		{"2025-10-26T03:00:00", "Europe/Berlin", false, "2025-10-26T02:00:00Z"},
		{"2025-11-02T01:30", "America/New_York", false, "2025-11-02T05:30:00Z"},
		// The skipped hour when summer time starts, read as Go reads it.
		{"2025-03-30T02:30:00", "Europe/Berlin", false, "2025-03-30T01:30:00Z"},
	}
	for _, tt := range tests {
		got, err := ParseWindowTime(tt.v, tt.zone, tt.end)
		require.NoError(t, err, tt.v)
		require.Equal(t, tt.want, got.Format(time.RFC3339), tt.v+" "+tt.zone)
	}
	for _, bad := range []string{"", "tomorrow", "2025-13-01", "01.06.2025"} {
		_, err := ParseWindowTime(bad, "Europe/Berlin", false)
		require.Error(t, err, bad)
	}
	_, err := ParseWindowTime("2025-06-01", "Mars/Olympus", false)
	require.Error(t, err)
}

func TestPromotionInternalPayloads(t *testing.T) {
	t.Parallel()
	task, err := NewPromotionTransitionTask(PromotionTransitionPayload{ID: "SUMMER20", AtMS: 1748728800000, Bound: "start"})
	require.NoError(t, err)
	spec, ok := Lookup(task.Type())
	require.True(t, ok)
	require.True(t, spec.Internal)
	require.NoError(t, spec.Validate(task.Payload()))
	_, err = NewPromotionTransitionTask(PromotionTransitionPayload{ID: "X"})
	require.Error(t, err)

	sweep, err := NewPromotionSweepTask()
	require.NoError(t, err)
	require.Equal(t, TypePromotionSweep, sweep.Type())
}
