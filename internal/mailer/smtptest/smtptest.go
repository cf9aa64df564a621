// Package smtptest is a scriptable SMTP server for tests and benchmarks:
// it listens on loopback, speaks enough ESMTP for go-mail (EHLO, STARTTLS,
// AUTH PLAIN/LOGIN/CRAM-MD5, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps
// what it received, and lets a test answer any command with a chosen
// reply, a stall or a dropped connection.
package smtptest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Verbs a Handler sees besides SMTP commands.
const (
	// Greeting is the server's first line, before any command.
	Greeting = "GREETING"
	// DataEnd is the final reply after the message content.
	DataEnd = "DATA-END"
)

// Call is one command as the Handler sees it.
type Call struct {
	// Session numbers connections from 1.
	Session int
	// Verb is the upper-case command (MAIL, RCPT, DATA, ...) or Greeting
	// or DataEnd.
	Verb string
	// Arg is the rest of the line ("FROM:<a@b>"); for AUTH, the mechanism.
	Arg string
	// N counts calls of this verb across the server, from 1.
	N int
	// TLS reports whether the session is encrypted.
	TLS bool
}

// Action is a Handler's answer; the zero Action means the normal reply.
type Action struct {
	// Reply replaces the normal reply, e.g. "550 5.1.1 no such user".
	Reply string
	// Stall stops answering until the server closes.
	Stall bool
	// Drop closes the connection without a reply.
	Drop bool
	// Close sends Reply and then closes the connection (421 behaviour).
	Close bool
}

// Handler scripts the server.
type Handler func(Call) Action

// Options configure a Server.
type Options struct {
	// TLS, when set, enables STARTTLS (or TLS from the first byte with
	// Implicit).
	TLS      *tls.Config
	Implicit bool
	// AuthMechs are advertised in EHLO (e.g. "PLAIN", "LOGIN", "CRAM-MD5").
	AuthMechs []string
	// Handler scripts replies; nil answers everything normally.
	Handler Handler
	// KeepMessages keeps received messages; benchmarks turn it off.
	KeepMessages bool
}

// Message is one accepted mail.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Server is a running test server.
type Server struct {
	Addr string
	Host string
	Port int

	opts Options
	ln   net.Listener
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	sessions int
	counts   map[string]int
	calls    []Call
	messages []Message
	accepted int
	conns    map[net.Conn]bool
}

// Start starts a server on 127.0.0.1; it stops when the test ends.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Listen(o)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Listen starts a server on a free loopback port; call Close.
func Listen(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().(*net.TCPAddr)
	s := &Server{
		Addr: ln.Addr().String(), Host: "127.0.0.1", Port: addr.Port, opts: o, ln: ln,
		stop: make(chan struct{}), counts: map[string]int{}, conns: map[net.Conn]bool{},
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops the server, ends stalls and closes every connection.
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Sessions returns how many connections were accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Accepted returns how many mails got (or were about to get) the final 250.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Messages returns the mails kept (Options.KeepMessages).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Calls returns every command received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Saw reports whether the server received verb in any session.
func (s *Server) Saw(verb string) bool {
	for _, c := range s.Calls() {
		if c.Verb == verb {
			return true
		}
	}
	return false
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sessions++
		id := s.sessions
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				_ = c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			if s.opts.TLS != nil && s.opts.Implicit {
				tc := tls.Server(c, s.opts.TLS)
				s.mu.Lock()
				s.conns[tc] = true
				s.mu.Unlock()
				defer func() {
					s.mu.Lock()
					delete(s.conns, tc)
					s.mu.Unlock()
				}()
				c = tc
			}
			sess := &session{srv: s, id: id, conn: c, tls: s.opts.Implicit}
			sess.run()
		}()
	}
}

// errDone ends a session.
var errDone = errors.New("session done")

type session struct {
	srv  *Server
	id   int
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool

	from string
	rcpt []string
	mail bool
}

// decide records the call and asks the handler.
func (ss *session) decide(verb, arg string) Action {
	s := ss.srv
	s.mu.Lock()
	s.counts[verb]++
	c := Call{Session: ss.id, Verb: verb, Arg: arg, N: s.counts[verb], TLS: ss.tls}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.opts.Handler == nil {
		return Action{}
	}
	return s.opts.Handler(c)
}

// answer sends the normal reply unless the handler said otherwise; it
// returns false when the normal processing must not go on.
func (ss *session) answer(a Action, normal string) (bool, error) {
	switch {
	case a.Drop:
		return false, errDone
	case a.Stall:
		<-ss.srv.stop
		return false, errDone
	case a.Reply != "":
		if err := ss.reply(a.Reply); err != nil {
			return false, err
		}
		if a.Close {
			return false, errDone
		}
		return false, nil
	}
	return true, ss.reply(normal)
}

func (ss *session) reply(lines ...string) error {
	for _, l := range lines {
		if _, err := ss.w.WriteString(l + "\r\n"); err != nil {
			return err
		}
	}
	return ss.w.Flush()
}

func (ss *session) readLine() (string, error) {
	l, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

func (ss *session) run() {
	ss.r, ss.w = bufio.NewReader(ss.conn), bufio.NewWriter(ss.conn)
	if _, err := ss.answer(ss.decide(Greeting, ""), "220 smtptest ESMTP ready"); err != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if err := ss.command(strings.ToUpper(verb), arg); err != nil {
			return
		}
	}
}

func (ss *session) command(verb, arg string) error {
	if verb == "AUTH" {
		mech, _, _ := strings.Cut(arg, " ")
		a := ss.decide(verb, strings.ToUpper(mech))
		if a != (Action{}) {
			_, err := ss.answer(a, "")
			return err
		}
		return ss.auth(arg)
	}
	a := ss.decide(verb, arg)
	switch verb {
	case "EHLO", "HELO":
		return ss.ehlo(a)
	case "STARTTLS":
		return ss.startTLS(a)
	case "MAIL":
		if ss.mail {
			_, err := ss.answer(a, "503 5.5.1 nested MAIL command")
			return err
		}
		ok, err := ss.answer(a, "250 2.1.0 ok")
		if ok {
			ss.mail, ss.from = true, arg
		}
		return err
	case "RCPT":
		if !ss.mail {
			_, err := ss.answer(a, "503 5.5.1 need MAIL before RCPT")
			return err
		}
		ok, err := ss.answer(a, "250 2.1.5 ok")
		if ok {
			ss.rcpt = append(ss.rcpt, arg)
		}
		return err
	case "DATA":
		return ss.data(a)
	case "RSET":
		ss.mail, ss.rcpt, ss.from = false, nil, ""
		_, err := ss.answer(a, "250 2.0.0 ok")
		return err
	case "NOOP":
		_, err := ss.answer(a, "250 2.0.0 ok")
		return err
	case "QUIT":
		_, _ = ss.answer(a, "221 2.0.0 bye")
		return errDone
	}
	_, err := ss.answer(a, "502 5.5.2 command not recognised")
	return err
}

func (ss *session) ehlo(a Action) error {
	if a != (Action{}) {
		_, err := ss.answer(a, "")
		return err
	}
	lines := []string{"250-smtptest", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SIZE 10240000"}
	if ss.srv.opts.TLS != nil && !ss.tls {
		lines = append(lines, "250-STARTTLS")
	}
	if len(ss.srv.opts.AuthMechs) > 0 {
		lines = append(lines, "250-AUTH "+strings.Join(ss.srv.opts.AuthMechs, " "))
	}
	lines = append(lines, "250 SMTPUTF8")
	return ss.reply(lines...)
}

func (ss *session) startTLS(a Action) error {
	if ss.srv.opts.TLS == nil || ss.tls {
		_, err := ss.answer(a, "502 5.5.1 STARTTLS not offered")
		return err
	}
	ok, err := ss.answer(a, "220 2.0.0 go ahead")
	if !ok || err != nil {
		return err
	}
	tc := tls.Server(ss.conn, ss.srv.opts.TLS)
	if err := tc.Handshake(); err != nil {
		return err
	}
	ss.srv.mu.Lock()
	ss.srv.conns[tc] = true
	ss.srv.mu.Unlock()
	ss.conn, ss.tls = tc, true
	ss.r, ss.w = bufio.NewReader(tc), bufio.NewWriter(tc)
	ss.mail, ss.rcpt = false, nil
	return nil
}

// auth accepts any credentials with PLAIN, LOGIN and CRAM-MD5.
func (ss *session) auth(arg string) error {
	mech, initial, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			if err := ss.reply("334 "); err != nil {
				return err
			}
			if _, err := ss.readLine(); err != nil {
				return err
			}
		}
	case "LOGIN":
		for _, prompt := range []string{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"} {
			if err := ss.reply("334 " + prompt); err != nil {
				return err
			}
			if _, err := ss.readLine(); err != nil {
				return err
			}
		}
	case "CRAM-MD5":
		if err := ss.reply("334 " + base64.StdEncoding.EncodeToString([]byte("<1.2@smtptest>"))); err != nil {
			return err
		}
		if _, err := ss.readLine(); err != nil {
			return err
		}
	default:
		return ss.reply("504 5.5.4 mechanism not supported")
	}
	return ss.reply("235 2.7.0 authenticated")
}

func (ss *session) data(a Action) error {
	if !ss.mail || len(ss.rcpt) == 0 {
		_, err := ss.answer(a, "503 5.5.1 need RCPT before DATA")
		return err
	}
	ok, err := ss.answer(a, "354 end with <CRLF>.<CRLF>")
	if !ok || err != nil {
		return err
	}
	var body []byte
	for {
		l, err := ss.r.ReadString('\n')
		if err != nil {
			return err
		}
		if l == ".\r\n" || l == ".\n" {
			break
		}
		if ss.srv.opts.KeepMessages {
			body = append(body, strings.TrimPrefix(l, ".")...)
		}
	}
	from, rcpt := ss.from, ss.rcpt
	ss.mail, ss.rcpt, ss.from = false, nil, ""

	a = ss.decide(DataEnd, strconv.Itoa(len(body)))
	final := a.Reply
	if final == "" && !a.Drop && !a.Stall {
		final = "250 2.0.0 queued"
	}
	if strings.HasPrefix(final, "250") {
		ss.srv.mu.Lock()
		ss.srv.accepted++
		if ss.srv.opts.KeepMessages {
			ss.srv.messages = append(ss.srv.messages, Message{From: from, To: rcpt, Data: body})
		}
		ss.srv.mu.Unlock()
	}
	_, err = ss.answer(a, "250 2.0.0 queued")
	return err
}

// String describes the server for failure messages.
func (s *Server) String() string { return fmt.Sprintf("smtptest at %s", s.Addr) }
