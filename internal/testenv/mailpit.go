package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Mailpit is a real SMTP server with an HTTP API, started for the tests.
type Mailpit struct {
	SMTPHost string
	SMTPPort int
	APIURL   string
	cmd      *exec.Cmd
}

var (
	mailpitMu  sync.Mutex
	mailpits   []*Mailpit
	sharedOnce sync.Once
	shared     *Mailpit
	errShared  error
)

// MailpitBinary finds the mailpit binary: $MAILPIT, PATH, then $GOBIN or
// $GOPATH/bin (where `go install github.com/axllent/mailpit@v1.33.1` puts it).
func MailpitBinary() (string, error) {
	if p := os.Getenv("MAILPIT"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	dirs := []string{os.Getenv("GOBIN")}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mailpit not found: run `go install github.com/axllent/mailpit@v1.33.1` (make test does)")
}

// SharedMailpit returns one mailpit per test process, started on first use.
// Tests sharing it tell their mails apart by recipient (see Messages).
func SharedMailpit(tb testing.TB) *Mailpit {
	tb.Helper()
	sharedOnce.Do(func() { shared, errShared = startMailpit(nil) })
	if errShared != nil {
		tb.Fatalf("testenv: %v", errShared)
	}
	return shared
}

// StartMailpit starts a mailpit of the calling test's own with extra
// arguments (for example STARTTLS and auth flags); it stops at test end.
func StartMailpit(tb testing.TB, args ...string) *Mailpit {
	tb.Helper()
	m, err := startMailpit(args)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { m.stop() })
	return m
}

func startMailpit(args []string) (*Mailpit, error) {
	bin, err := MailpitBinary()
	if err != nil {
		return nil, err
	}
	smtpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	all := append([]string{
		"--smtp", "127.0.0.1:" + strconv.Itoa(smtpPort),
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--max", "0", "--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mailpit: %w", err)
	}
	m := &Mailpit{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, APIURL: "http://127.0.0.1:" + strconv.Itoa(httpPort), cmd: cmd}
	mailpitMu.Lock()
	mailpits = append(mailpits, m)
	mailpitMu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.APIURL + "/api/v1/info")
		if err == nil {
			_ = resp.Body.Close()
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(m.SMTPHost, strconv.Itoa(smtpPort)), time.Second); err == nil {
				_ = c.Close()
				return m, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.stop()
	return nil, fmt.Errorf("mailpit did not come up on ports %d/%d", smtpPort, httpPort)
}

func (m *Mailpit) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_, _ = m.cmd.Process.Wait()
		m.cmd = nil
	}
}

func stopMailpits() {
	mailpitMu.Lock()
	defer mailpitMu.Unlock()
	for _, m := range mailpits {
		m.stop()
	}
	mailpits = nil
}

// MailSummary is one message as mailpit lists it.
type MailSummary struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	From      struct {
		Name    string `json:"Name"`
		Address string `json:"Address"`
	} `json:"From"`
	To []struct {
		Name    string `json:"Name"`
		Address string `json:"Address"`
	} `json:"To"`
}

// Messages returns the messages matching a mailpit search query (for
// example "to:zoe@example.test"); "" returns all.
func (m *Mailpit) Messages(tb testing.TB, query string) []MailSummary {
	tb.Helper()
	var out struct {
		Messages []MailSummary `json:"messages"`
		Total    int           `json:"messages_count"`
	}
	u := m.APIURL + "/api/v1/messages?limit=100000"
	if query != "" {
		u = m.APIURL + "/api/v1/search?limit=100000&query=" + url.QueryEscape(query)
	}
	m.getJSON(tb, u, &out)
	return out.Messages
}

// Raw returns a message's source as received.
func (m *Mailpit) Raw(tb testing.TB, id string) []byte {
	tb.Helper()
	resp, err := http.Get(m.APIURL + "/api/v1/message/" + id + "/raw")
	if err != nil {
		tb.Fatalf("mailpit raw: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return b
}

// Message returns mailpit's parsed view of one message (Text, HTML, ...).
func (m *Mailpit) Message(tb testing.TB, id string) map[string]any {
	tb.Helper()
	var out map[string]any
	m.getJSON(tb, m.APIURL+"/api/v1/message/"+id, &out)
	return out
}

func (m *Mailpit) getJSON(tb testing.TB, u string, v any) {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatalf("mailpit %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit %s: %v", u, err)
	}
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
