package ui

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const chromium = "/usr/bin/chromium"

// TestBrowser loads the UI in headless Chromium (Debian's package; .ci/run
// installs it) against asynq v0.26.0 and checks that the pages render the
// queues and a task from Redis, behind basic auth.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("headless browser test needs Chromium at " + chromium + " (apt-get install chromium)")
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	t.Parallel()
	b := setup(t, Options{Username: "ops", Password: "s3cret", ReadOnly: true})

	// httptest listens on 127.0.0.1 only.
	host, port, err := net.SplitHostPort(strings.TrimPrefix(b.srv.URL, "http://"))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)

	code, _ := b.do(t, http.MethodGet, "/ui/", "", "")
	require.Equal(t, http.StatusUnauthorized, code)

	base := "http://ops:s3cret@127.0.0.1:" + port
	dash := dumpDOM(t, base+"/ui/", "")
	requireShows(t, dash, b.queue, "dashboard lists the queue")

	shot := filepath.Join(t.TempDir(), "queue.png")
	details := dumpDOM(t, base+"/ui/queues/"+b.queue+"?status=pending", shot)
	requireShows(t, details, b.task.ID, "queue page lists the pending task")
	requireShows(t, details, "inventory:set", "queue page shows the task type")
	requireShows(t, details, "MUG-UI", "queue page shows the payload")
	if dir := os.Getenv("SHOPQ_UI_SCREENSHOT_DIR"); dir != "" {
		data, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ui-queue.png"), data, 0o600))
	}

	// Without credentials the browser gets no page at all.
	anon := dumpDOM(t, "http://127.0.0.1:"+port+"/ui/", "")
	require.NotContains(t, anon, b.queue)
}

// requireShows checks that the rendered DOM holds want; on failure it
// prints the body, not the page's many inline styles.
func requireShows(t *testing.T, dom, want, what string) {
	t.Helper()
	if strings.Contains(dom, want) {
		return
	}
	body := dom
	if i := strings.Index(dom, "<body"); i >= 0 {
		body = dom[i:]
	}
	if len(body) > 4000 {
		body = body[:4000]
	}
	t.Fatalf("%s: %q not in the rendered page; body:\n%s", what, want, body)
}

// dumpDOM renders url in headless Chromium and returns the DOM after its
// scripts ran; with screenshot set it also writes a PNG there.
func dumpDOM(t *testing.T, url, screenshot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--window-size=1280,900",
		"--virtual-time-budget=10000",
		// The page links Google Fonts; keep the browser on loopback.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--proxy-server=direct://", "--proxy-bypass-list=*",
	}
	if screenshot != "" {
		run(ctx, t, append(args, "--screenshot="+screenshot, url))
		st, err := os.Stat(screenshot)
		require.NoError(t, err)
		require.Positive(t, st.Size())
	}
	return run(ctx, t, append(args, "--dump-dom", url))
}

func run(ctx context.Context, t *testing.T, args []string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return stdout.String()
}
