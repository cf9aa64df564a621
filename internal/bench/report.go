package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
)

// Summary is the median, min and max of a figure's runs.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median, min and max of vals (NaN when empty).
func Summarize(vals []float64) Summary {
	if len(vals) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Target is a threshold a figure's median must meet.
type Target struct {
	Name   string
	AtMost bool // the figure must be <= Value; otherwise >= Value
	Value  float64
}

// Check reports whether v meets the target.
func (t Target) Check(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.AtMost {
		return v <= t.Value
	}
	return v >= t.Value
}

func (t Target) String() string {
	op := ">="
	if t.AtMost {
		op = "<="
	}
	return fmt.Sprintf("%s %s %s", t.Name, op, num(t.Value))
}

// Line is one printed figure.
type Line struct {
	Fig     string
	Label   string
	Unit    string
	Summary Summary
	Target  *Target
	Pass    bool
	Note    string
}

// Reporter prints figures as they are measured and keeps them for the
// closing summary.
type Reporter struct {
	mu    sync.Mutex
	w     io.Writer
	Lines []Line
}

// NewReporter prints to w.
func NewReporter(w io.Writer) *Reporter { return &Reporter{w: w} }

// Printf writes a free-form line.
func (r *Reporter) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format+"\n", args...)
}

// Figure prints one figure: median [min..max] over its runs, and the
// target's verdict when there is one.
func (r *Reporter) Figure(fig, label, unit string, vals []float64, target *Target, note string) Line {
	l := Line{Fig: fig, Label: label, Unit: unit, Summary: Summarize(vals), Target: target, Note: note}
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %-58s %10s %-9s [min %s, max %s, n=%d]", fig, label, num(l.Summary.Median), unit,
		num(l.Summary.Min), num(l.Summary.Max), l.Summary.N)
	if target != nil {
		l.Pass = target.Check(l.Summary.Median)
		verdict := "MISS"
		if l.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "  target %s: %s", target, verdict)
	}
	if note != "" {
		fmt.Fprintf(&b, "  (%s)", note)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Lines = append(r.Lines, l)
	fmt.Fprintln(r.w, b.String())
	return l
}

// Targets prints every checked target with its verdict.
func (r *Reporter) Targets() {
	r.mu.Lock()
	lines := slices.Clone(r.Lines)
	r.mu.Unlock()
	pass, miss := 0, 0
	r.Printf("\n== targets ==")
	for _, l := range lines {
		if l.Target == nil {
			continue
		}
		verdict := "MISS"
		if l.Pass {
			verdict = "PASS"
			pass++
		} else {
			miss++
		}
		r.Printf("%s  %-5s %-58s %s (median %s)", verdict, l.Fig, l.Label, l.Target, num(l.Summary.Median))
	}
	r.Printf("%d passed, %d missed", pass, miss)
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// ratios divides a[i] by b[i].
func ratios(a, b []float64) []float64 {
	out := make([]float64, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]/b[i])
	}
	return out
}

// scale multiplies every value by k.
func scale(vals []float64, k float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = v * k
	}
	return out
}
