// Package embedredis runs an in-process Redis (miniredis) for the demo and
// for test runs on machines without a Redis server.
//
// Keys expire in real time, within Tick of their due time. miniredis's own
// ClockTTL(true) advances every TTL on every command, sorting all keys each
// time, which slows a store of a few thousand keys to a crawl; advancing the
// clock from a ticker costs that once per Tick instead.
package embedredis

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Tick is how often TTLs advance.
const Tick = 250 * time.Millisecond

// Server is a running embedded Redis.
type Server struct {
	*miniredis.Miniredis
	stop chan struct{}
	done sync.WaitGroup
}

// Start starts an embedded Redis on a free loopback port.
func Start() (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, err
	}
	s := &Server{Miniredis: m, stop: make(chan struct{})}
	s.done.Add(1)
	go s.clock()
	return s, nil
}

func (s *Server) clock() {
	defer s.done.Done()
	t := time.NewTicker(Tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.FastForward(now.Sub(last))
			last = now
		}
	}
}

// URL returns the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Close stops the clock and the server.
func (s *Server) Close() {
	close(s.stop)
	s.done.Wait()
	s.Miniredis.Close()
}
