package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/tasks"
)

// The admin server with the web UI on a non-loopback address and no
// credentials: the worker refuses to start and says why.
func TestExposedUIWithoutCredentialsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	for _, addr := range []string{fmt.Sprintf("0.0.0.0:%d", freePort(t)), fmt.Sprintf(":%d", freePort(t))} {
		wk := e.startWorker(e.writeConfig("exposed.yaml", fmt.Sprintf("http:\n  addr: %q\n", addr)))
		code := wk.wait(30 * time.Second)
		require.NotZero(t, code, "the worker must refuse to serve the UI on %s without credentials", addr)
		require.Contains(t, wk.out.String(), "without credentials", addr)
		require.Contains(t, wk.out.String(), "ui.username", addr)
	}
}

// With credentials the UI answers 401 without them (and to wrong ones),
// 200 with them.
func TestUIRequiresCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	wk := e.startWorker(e.writeConfig("ui.yaml", fmt.Sprintf("http:\n  addr: %q\nui:\n  username: admin\n", addr)),
		"SHOPQ_UI_PASSWORD=correct horse battery")
	wk.waitStarted()
	get := func(path, user, pass string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/ui/", "/ui/api/queues", "/ui/api/queues/default:pause"} {
		require.Equal(t, http.StatusUnauthorized, get(p, "", ""), p)
		require.Equal(t, http.StatusUnauthorized, get(p, "admin", "wrong"), p)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/ui/api/queues/default:pause", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an action without credentials")
	require.Equal(t, http.StatusOK, get("/ui/", "admin", "correct horse battery"))
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
}

// secretForms returns the forms a secret may take in output: raw,
// URL-encoded, and base64 as in SMTP AUTH PLAIN and LOGIN.
func secretForms(s string) []string {
	return []string{s, url.QueryEscape(s), url.PathEscape(s), (&url.URL{User: url.UserPassword("", s)}).String()[3:],
		base64.StdEncoding.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte("\x00shop\x00" + s))}
}

func requireNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, f := range secretForms(s) {
			require.NotContains(t, text, f, "%s shows a secret", what)
		}
	}
}

// Secrets (the Redis password in the URL, the SMTP and UI passwords) never
// appear in logs, --print-config, error messages or anything stored in
// Redis, over a full worker session with good and failing tasks.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redisPW := "r3dis/Pass:w@rd-" + fmt.Sprint(time.Now().UnixNano())
	smtpPW := "smtp-S3cret-" + fmt.Sprint(time.Now().UnixNano())
	uiPW := "ui-S3cret-" + fmt.Sprint(time.Now().UnixNano())
	secrets := []string{redisPW, smtpPW, uiPW}
	e := newEnv(t, redisPW)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := e.writeConfig("worker.yaml", fmt.Sprintf("http:\n  addr: %q\nui:\n  username: admin\n", addr))
	environ := []string{"SHOPQ_MAIL_SMTP_PASSWORD=" + smtpPW, "SHOPQ_UI_PASSWORD=" + uiPW, "SHOPQ_MAIL_SMTP_USERNAME=shop"}
	bin := binary(t, "worker")

	// --print-config
	cmd := exec.Command(bin, "--config", cfg, "--print-config")
	cmd.Env = append(os.Environ(), environ...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "xxxxx")
	requireNoSecret(t, "--print-config", string(out), secrets...)

	// A worker that cannot reach its Redis: the error names the URL, not
	// the password.
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	bad := cfg + ".unreachable.yaml"
	down := strings.Replace(string(raw), fmt.Sprintf("127.0.0.1:%d", e.Redis.Port), fmt.Sprintf("127.0.0.1:%d", freePort(t)), 1)
	require.NoError(t, os.WriteFile(bad, []byte(down), 0o600))
	wk := e.startWorker(bad, environ...)
	require.NotZero(t, wk.wait(30*time.Second))
	require.Contains(t, wk.out.String(), "xxxxx", "the Redis URL is shown redacted")
	requireNoSecret(t, "startup error", wk.out.String(), secrets...)

	// The enqueue command with a wrong password and with bad input.
	enq := binary(t, "enqueue")
	for _, args := range [][]string{
		{"inventory:adjust", "--json", "-", "--config", cfg},
		{"inventory:adjust", "--json", "-", "--config", bad},
	} {
		c := exec.Command(enq, args...)
		c.Stdin = strings.NewReader(`{"sku":"A","delta":1,"reason":"delivery","operation_id":"sec-1"}`)
		c.Env = append(os.Environ(), environ...)
		o, _ := c.CombinedOutput()
		requireNoSecret(t, "enqueue output", string(o), secrets...)
	}
	wrongPW := exec.Command(enq, "inventory:adjust", "--json", "-")
	wrongPW.Stdin = strings.NewReader(`{"sku":"A","delta":1,"reason":"delivery","operation_id":"sec-2"}`)
	wrongPW.Env = append(os.Environ(), "SHOPQ_REDIS_URL="+strings.Replace(e.Redis.URL(), url.UserPassword("", redisPW).String(),
		url.UserPassword("", redisPW+"-wrong").String(), 1))
	o, _ := wrongPW.CombinedOutput()
	requireNoSecret(t, "enqueue with a wrong password", string(o), redisPW+"-wrong", redisPW)

	// A full session: good tasks, failing ones, a mail, an order.
	wk = e.startWorker(cfg, environ...)
	wk.waitStarted()
	w := newWorkload("sec", 2)
	w.seed(t, e)
	w.addStock(t, 4)
	w.addMails(t, 2)
	w.addOrders(t, 2)
	w.enqueueAll(t, e)
	_, err = e.Cli.Enqueue(asynq.NewTask(tasks.TypeMailSend, []byte(`{"to":`)), asynq.Queue("default"))
	require.NoError(t, err)
	_, err = e.Cli.Enqueue(asynq.NewTask("faults:unknown", nil), asynq.Queue("default"))
	require.NoError(t, err)
	e.waitIdle(time.Minute)
	require.Equal(t, http.StatusOK, httpStatus("http://"+addr+"/readyz"))
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
	require.Contains(t, wk.out.String(), `"worker started"`)
	requireNoSecret(t, "worker logs", wk.out.String(), secrets...)

	// A session sending over SMTP with authentication: the server refuses
	// the first login, then accepts; mail errors are logged and stored.
	smtp := smtptest.Start(t, smtptest.Options{AuthMechs: []string{"PLAIN", "LOGIN"}, KeepMessages: true,
		Handler: func(c smtptest.Call) smtptest.Action {
			if c.Verb == "AUTH" && c.N == 1 {
				return smtptest.Action{Reply: "454 4.7.0 temporary authentication failure"}
			}
			return smtptest.Action{}
		}})
	smtpCfg := e.writeConfig("smtp.yaml", fmt.Sprintf(`http:
  addr: %q
ui:
  username: admin
mail:
  transport: smtp
  smtp:
    host: 127.0.0.1
    port: %d
    username: shop
    tls: none
    auth: plain
    allow_insecure_auth: true
`, addr, smtp.Port))
	wk = e.startWorker(smtpCfg, environ...)
	wk.waitStarted()
	w2 := newWorkload("smtp", 1)
	w2.addMails(t, 3)
	w2.enqueueAll(t, e)
	e.waitIdle(time.Minute)
	require.Positive(t, smtp.Accepted(), "mails reached the SMTP server")
	require.True(t, smtp.Saw("AUTH"), "the worker logged in")
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
	requireNoSecret(t, "worker logs (smtp)", wk.out.String(), secrets...)

	// Nothing stored in Redis holds a secret: task payloads, results,
	// errors, server info.
	var dump bytes.Buffer
	iter := e.RDB.Scan(ctx, 0, "*", 500).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		dump.WriteString(k + "\n")
		switch e.RDB.Type(ctx, k).Val() {
		case "string":
			dump.WriteString(e.RDB.Get(ctx, k).Val())
		case "hash":
			for f, v := range e.RDB.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "list":
			dump.WriteString(strings.Join(e.RDB.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			dump.WriteString(strings.Join(e.RDB.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			dump.WriteString(strings.Join(e.RDB.ZRange(ctx, k, 0, -1).Val(), "\n"))
		}
	}
	require.NoError(t, iter.Err())
	require.Greater(t, keys, 10)
	requireNoSecret(t, "Redis contents", dump.String(), secrets...)
}

// Feed URLs: a feed served over http that redirects to another scheme is
// not followed; the run fails saying why and imports nothing. A feed above
// catalog.max_feed_bytes fails; one that stalls past catalog.read_timeout
// is retried.
func TestFeedRedirectToOtherSchemeRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "")
	feed, err := os.ReadFile("../../testdata/shopify/apparel.csv")
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.csv":
			_, _ = w.Write(feed)
		case "/to-file.csv":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/to-ftp.csv":
			http.Redirect(w, r, "ftp://127.0.0.1/feed.csv", http.StatusFound)
		case "/to-gopher.csv":
			http.Redirect(w, r, "gopher://127.0.0.1:70/feed.csv", http.StatusMovedPermanently)
		case "/huge.csv":
			_, _ = w.Write(feed)
			for range 100 {
				_, _ = w.Write(bytes.Repeat([]byte("x"), 10<<10))
			}
		case "/stalls.csv":
			_, _ = w.Write(feed[:200])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		}
	}))
	t.Cleanup(srv.Close)

	runs := map[string]string{"redir-file": "/to-file.csv", "redir-ftp": "/to-ftp.csv", "redir-gopher": "/to-gopher.csv",
		"plain": "/ok.csv", "huge": "/huge.csv", "stalls": "/stalls.csv"}
	for run, path := range runs {
		e.enqueue(tasks.NewCatalogImportTask(tasks.CatalogImportPayload{
			Source: srv.URL + path, Format: tasks.FormatShopifyCSV, Supplier: run, RunID: run,
		}))
	}
	_, err = tasks.NewCatalogImportTask(tasks.CatalogImportPayload{Source: "file:///etc/passwd", Format: tasks.FormatShopifyCSV, Supplier: "s"})
	require.NoError(t, err, "a local path is a source of its own (the worker's files), not a URL scheme trick")
	_, err = tasks.NewCatalogImportTask(tasks.CatalogImportPayload{Source: "ftp://127.0.0.1/x.csv", Format: tasks.FormatShopifyCSV, Supplier: "s"})
	require.ErrorContains(t, err, "source")

	wk := e.startWorker(e.writeConfig("worker.yaml", "http:\n  addr: \"\"\ncatalog:\n  max_feed_bytes: 100000\n  read_timeout: 1s\n"))
	wk.waitStarted()
	// The stalled feed hits the read timeout and is retried (a network
	// fault may pass); take it out once its first attempt failed.
	var stalled *asynq.TaskInfo
	require.Eventually(t, func() bool {
		retry, err := e.Insp.ListRetryTasks("low")
		if err != nil || len(retry) != 1 {
			return false
		}
		stalled = retry[0]
		return true
	}, time.Minute, 50*time.Millisecond, "the stalled feed's task in retry")
	require.Regexp(t, `(?i)timeout|deadline|no progress`, stalled.LastErr)
	require.Equal(t, 1, stalled.Retried)
	require.NoError(t, e.Insp.DeleteTask("low", stalled.ID))
	delete(runs, "stalls")
	e.waitIdle(time.Minute)
	cat := catalog.New(e.Store, catalog.Options{})
	for run := range runs {
		rep, err := cat.Report(ctx, run)
		require.NoError(t, err, run)
		if run == "plain" {
			require.Equal(t, "completed", rep.Status)
			require.Positive(t, rep.Created)
			continue
		}
		t.Logf("%s: %s %v", run, rep.Status, rep.Warnings)
		require.Equal(t, "failed", rep.Status, run)
		switch run {
		case "huge":
			require.Contains(t, strings.Join(rep.Warnings, " "), "too large", "the size cap")
			continue
		}
		require.Zero(t, rep.Created+rep.Updated, run)
		require.NotEmpty(t, rep.Warnings, run)
		require.Contains(t, strings.Join(rep.Warnings, " "), "redirect to scheme", run)
	}
	wk.signal(syscall.SIGTERM)
	require.Equal(t, 0, wk.wait(30*time.Second))
}
