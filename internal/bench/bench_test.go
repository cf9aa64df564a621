package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestQuickFigures runs the quick mode of figures 1 to 3 against the test
// Redis and checks that every figure is produced and sane (no speed
// thresholds: the machine is shared).
func TestQuickFigures(t *testing.T) {
	testenv.RequireRealRedis(t)
	e, err := NewEnv(testenv.RedisURL(t), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(e.Close)
	var out bytes.Buffer
	r := NewReporter(&out)
	require.NoError(t, Run(context.Background(), e, r, Options{Runs: 1, Quick: true, Only: []string{"fig1", "fig2", "fig3"}}))

	figs := map[string]int{}
	for _, l := range r.Lines {
		figs[l.Fig]++
		s := l.Summary
		require.Equal(t, 1, s.N, l.Label)
		require.False(t, math.IsNaN(s.Median) || math.IsInf(s.Median, 0), "%s: %v", l.Label, s.Median)
		if l.Unit == "tasks/s" || l.Unit == "rows/s" || l.Unit == "x" {
			require.Greater(t, s.Median, 0.0, l.Label)
		}
		require.GreaterOrEqual(t, s.Max, s.Min, l.Label)
		require.NotContains(t, l.Note, "did not succeed", l.Label)
	}
	require.Positive(t, figs["fig1"])
	require.Positive(t, figs["fig2"])
	require.Positive(t, figs["fig3"])
	require.Positive(t, figs["fig7"])
	require.Contains(t, out.String(), "target shopq/bare >= 0.900")
	require.True(t, strings.Contains(out.String(), "PASS") || strings.Contains(out.String(), "MISS"))
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{3, 1, 2})
	require.Equal(t, Summary{Median: 2, Min: 1, Max: 3, N: 3}, s)
	require.InDelta(t, 2.5, Summarize([]float64{4, 1, 2, 3}).Median, 1e-9)
	require.True(t, math.IsNaN(Summarize(nil).Median))
	require.True(t, Target{Value: 1}.Check(1))
	require.False(t, Target{Value: 1, AtMost: true}.Check(1.5))
	require.False(t, Target{Value: 1}.Check(math.NaN()))
}

func TestSnapshotDeltaIgnoresInfo(t *testing.T) {
	a := Snapshot{CPU: 1, Calls: map[string]int64{"info": 5, "evalsha": 10}}
	b := Snapshot{CPU: 1.5, Calls: map[string]int64{"info": 9, "evalsha": 25, "hset": 2}}
	d := b.Sub(a)
	require.Equal(t, int64(17), d.Commands)
	require.InDelta(t, 0.5, d.CPU, 1e-9)
}
