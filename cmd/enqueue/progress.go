package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a one-line counter on a terminal for long enqueues; tick
// is called from every enqueueing goroutine.
type progress struct {
	w     io.Writer
	total int
	tty   bool

	mu   sync.Mutex
	n    int
	last time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, tty: isTerminal(w)}
}

func (p *progress) tick() {
	if !p.tty || p.total < 100 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\renqueued %d/%d", p.n, p.total)
}

func (p *progress) done() {
	if p.tty && p.total >= 100 {
		fmt.Fprintf(p.w, "\renqueued %d/%d\n", p.total, p.total)
	}
}
