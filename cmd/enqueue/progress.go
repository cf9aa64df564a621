package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress prints a one-line counter on a terminal for long enqueues.
type progress struct {
	w     io.Writer
	total int
	tty   bool
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) tick(n int) {
	if !p.tty || p.total < 100 || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\renqueued %d/%d", n, p.total)
}

func (p *progress) done() {
	if p.tty && p.total >= 100 {
		fmt.Fprintf(p.w, "\renqueued %d/%d\n", p.total, p.total)
	}
}
