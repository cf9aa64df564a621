package mailer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/mailer/smtptest"
	"github.com/shopq/shopq/internal/metrics"
	"github.com/shopq/shopq/internal/testenv"
	"github.com/shopq/shopq/tasks"
)

func redisOpt(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	return asynq.RedisClientOpt{Addr: testenv.RedisAddr(t), DB: testenv.RedisDB(t)}
}

// runs counts handler runs and their outcomes.
type runs struct{ total, throttled, failed atomic.Int64 }

// startWorker runs an asynq server on queue with the mail family over m,
// as one worker process would: shopq's middleware, throttling outside the
// retry budget, and fast retries for the tests.
func startWorker(t testing.TB, queue string, concurrency int, m *mailer.Mailer, r *runs) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	srv := asynq.NewServer(redisOpt(t), asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
		IsFailure: handlers.IsFailure, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: func(n int, err error, tk *asynq.Task) time.Duration {
			var th *handlers.Throttled
			if errors.As(err, &th) {
				return th.After
			}
			return 100 * time.Millisecond
		},
	})
	mux := asynq.NewServeMux()
	mw := &handlers.Middleware{Logger: logger}
	mux.Use(mw.Wrap, func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, tk *asynq.Task) error {
			err := next.ProcessTask(ctx, tk)
			if r != nil {
				r.total.Add(1)
				var th *handlers.Throttled
				switch {
				case errors.As(err, &th):
					r.throttled.Add(1)
				case err != nil:
					r.failed.Add(1)
				}
			}
			return err
		})
	})
	handlers.NewMail(handlers.Deps{Logger: logger}, m).Register(mux)
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)
}

// waitQueue polls until done(info) holds.
func waitQueue(t testing.TB, queue string, what string, done func(*asynq.QueueInfo) bool) {
	t.Helper()
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := insp.GetQueueInfo(queue)
		if err == nil && done(info) {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "queue did not get there", "%s: %+v, err %v", what, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func enqueueMail(t testing.TB, c *asynq.Client, queue string, p tasks.MailSendPayload, opts ...asynq.Option) *asynq.TaskInfo {
	t.Helper()
	tk, err := tasks.NewMailSendTask(p, append([]asynq.Option{asynq.Queue(queue), asynq.Retention(time.Hour)}, opts...)...)
	require.NoError(t, err)
	info, err := c.Enqueue(tk)
	require.NoError(t, err)
	return info
}

func orderData(i int) map[string]any {
	d := sampleData()[tasks.TemplateOrderConfirmation]
	d["order_id"] = fmt.Sprintf("O-%03d", i)
	return d
}

// 100 orders, each confirmation enqueued twice (200 tasks) on two worker
// processes: exactly 100 mails arrive, one per order, each with its own
// Message-ID; the 100 duplicates complete with Duplicate set. Not parallel:
// it counts the process-wide duplicates metric.
func TestOneMailPerOrderThroughWorkers(t *testing.T) {
	testenv.RequireRealRedis(t)
	mp := testenv.SharedMailpit(t)
	queue := testenv.Queue(t, "mail")
	domain := testDomain(t)
	st := newStore(t)
	for range 2 {
		o := plainSMTP(mp.SMTPHost, mp.SMTPPort)
		o.From, o.SMTP.PoolSize = "Shop <shop@example.test>", 4
		m, err := mailer.New(o, st, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		startWorker(t, queue, 8, m, nil)
	}
	before := testutil.ToFloat64(metrics.DuplicateMailsSuppressed)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	for i := range 100 {
		p := tasks.MailSendPayload{
			Template: tasks.TemplateOrderConfirmation, To: fmt.Sprintf("Kunde %d <c%d@%s>", i, i, domain),
			Data: orderData(i), EffectKey: fmt.Sprintf("order-confirmation:%s:O-%03d", domain, i),
		}
		enqueueMail(t, client, queue, p)
		enqueueMail(t, client, queue, p) // the same effect, enqueued twice
	}
	waitQueue(t, queue, "200 completed", func(q *asynq.QueueInfo) bool { return q.Completed == 200 && q.Size == 200 })

	waitMessages(t, mp, "to:"+domain, 100)
	time.Sleep(200 * time.Millisecond) // a 101st would have arrived by now
	msgs := mp.Messages(t, "to:"+domain)
	require.Len(t, msgs, 100)
	ids := map[string]bool{}
	for _, msg := range msgs {
		ids[msg.MessageID] = true
	}
	require.Len(t, ids, 100, "one Message-ID per order")
	require.InDelta(t, 100, testutil.ToFloat64(metrics.DuplicateMailsSuppressed)-before, 0)

	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	done, err := insp.ListCompletedTasks(queue, asynq.PageSize(500))
	require.NoError(t, err)
	var sent, dup int
	for _, ti := range done {
		var r tasks.MailResult
		require.NoError(t, json.Unmarshal(ti.Result, &r))
		require.True(t, ids[r.MessageID], "result names the Message-ID that arrived")
		if r.Sent {
			sent++
		}
		if r.Duplicate {
			dup++
		}
	}
	require.Equal(t, 100, sent)
	require.Equal(t, 100, dup)
}

// B03 T1: a malformed payload is archived on its first run, with the
// reason, and no SMTP connection is opened.
func TestMalformedPayloadArchivedWithoutSMTP(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	srv := smtptest.Start(t, smtptest.Options{})
	queue := testenv.Queue(t, "mail")
	var r runs
	startWorker(t, queue, 2, newMailer(t, fakeOpts(srv)), &r)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	info, err := client.Enqueue(asynq.NewTask(tasks.TypeMailSend, []byte(`{"template": "order-confirmation", "to": `)),
		asynq.Queue(queue), asynq.MaxRetry(4))
	require.NoError(t, err)

	waitQueue(t, queue, "archived", func(q *asynq.QueueInfo) bool { return q.Archived == 1 })
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	ti, err := insp.GetTaskInfo(queue, info.ID)
	require.NoError(t, err)
	require.Equal(t, 0, ti.Retried)
	require.Contains(t, ti.LastErr, "invalid payload")
	require.Equal(t, int64(1), r.total.Load())
	require.Zero(t, srv.Sessions(), "no SMTP connection opened")
}

// The rate limit reschedules mails without using up a retry or counting
// as a failure.
func TestRateLimitReschedulesWithoutRetry(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	srv := smtptest.Start(t, smtptest.Options{})
	queue := testenv.Queue(t, "mail")
	o := fakeOpts(srv)
	o.RatePerSecond = 2
	var r runs
	startWorker(t, queue, 4, newMailer(t, o), &r)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	var ids []string
	for i := range 5 {
		info := enqueueMail(t, client, queue, tasks.MailSendPayload{
			Template: tasks.TemplateOrderFailed, To: "ada@example.test",
			Data: sampleData()[tasks.TemplateOrderFailed], EffectKey: fmt.Sprint("rate:", i),
		}, asynq.MaxRetry(1))
		ids = append(ids, info.ID)
	}
	waitQueue(t, queue, "5 completed", func(q *asynq.QueueInfo) bool { return q.Completed == 5 })

	require.Equal(t, 5, srv.Accepted())
	require.Positive(t, r.throttled.Load(), "some sends waited for the limit")
	require.Zero(t, r.failed.Load())
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	for _, id := range ids {
		ti, err := insp.GetTaskInfo(queue, id)
		require.NoError(t, err)
		require.Equal(t, 0, ti.Retried, "throttling used no retry")
	}
	q, err := insp.GetQueueInfo(queue)
	require.NoError(t, err)
	require.Zero(t, q.FailedTotal, "throttling is not a failure")
}

// SMTP replies decide the task's fate: 5xx archived at once with the
// reply (B18), 4xx retried until it passes (B03 T3) or the retries run out
// (B03 T2).
func TestSMTPRepliesThroughWorkers(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	for _, tc := range []struct {
		name     string
		handler  smtptest.Handler
		maxRetry int
		archived bool
		retried  int
		runs     int64
		reply    string
		accepted int
	}{
		{"550IsArchivedAtOnce", on("RCPT", 0, smtptest.Action{Reply: "550 5.1.1 no such user"}), 4, true, 0, 1, "550 5.1.1 no such user", 0},
		{"451TwiceThenSent", func(c smtptest.Call) smtptest.Action {
			if c.Verb == "RCPT" && c.N <= 2 {
				return smtptest.Action{Reply: "451 4.7.1 greylisted"}
			}
			return smtptest.Action{}
		}, 4, false, 2, 3, "", 1},
		{"451AlwaysExhaustsRetries", on("RCPT", 0, smtptest.Action{Reply: "451 4.7.1 greylisted"}), 4, true, 4, 5, "451 4.7.1 greylisted", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{Handler: tc.handler})
			queue := testenv.Queue(t, "mail")
			var r runs
			m := newMailer(t, fakeOpts(srv))
			startWorker(t, queue, 2, m, &r)

			client := asynq.NewClient(redisOpt(t))
			defer func() { _ = client.Close() }()
			info := enqueueMail(t, client, queue, tasks.MailSendPayload{
				Template: tasks.TemplateOrderFailed, To: "ada@example.test",
				Data: sampleData()[tasks.TemplateOrderFailed], EffectKey: "replies:" + tc.name,
			}, asynq.MaxRetry(tc.maxRetry))
			waitQueue(t, queue, "finished", func(q *asynq.QueueInfo) bool { return q.Archived+q.Completed == 1 })

			insp := asynq.NewInspector(redisOpt(t))
			defer func() { _ = insp.Close() }()
			ti, err := insp.GetTaskInfo(queue, info.ID)
			require.NoError(t, err)
			require.Equal(t, tc.archived, ti.State == asynq.TaskStateArchived, ti.State.String())
			require.Equal(t, tc.retried, ti.Retried)
			require.Equal(t, tc.runs, r.total.Load())
			require.Equal(t, tc.accepted, srv.Accepted())
			if tc.reply != "" {
				require.Contains(t, ti.LastErr, tc.reply)
				require.NotContains(t, ti.LastErr, "ada@example.test")
			}
			if tc.archived {
				c, err := m.Claim(context.Background(), "replies:"+tc.name, time.Minute)
				require.NoError(t, err)
				require.True(t, c.Held(), "a failed send leaves no lease behind")
			}
		})
	}
}

// A duplicate task completes without touching the SMTP server.
func TestDuplicateTaskSkipsSMTP(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	srv := smtptest.Start(t, smtptest.Options{})
	queue := testenv.Queue(t, "mail")
	startWorker(t, queue, 1, newMailer(t, fakeOpts(srv)), nil)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	p := tasks.MailSendPayload{
		Template: tasks.TemplateOrderFailed, To: "ada@example.test",
		Data: sampleData()[tasks.TemplateOrderFailed], EffectKey: "dup:1",
	}
	enqueueMail(t, client, queue, p)
	waitQueue(t, queue, "first", func(q *asynq.QueueInfo) bool { return q.Completed == 1 })
	sessions := srv.Sessions()
	calls := len(srv.Calls())
	second := enqueueMail(t, client, queue, p)
	waitQueue(t, queue, "second", func(q *asynq.QueueInfo) bool { return q.Completed == 2 })

	require.Equal(t, 1, srv.Accepted())
	require.Equal(t, sessions, srv.Sessions())
	require.Len(t, srv.Calls(), calls, "no SMTP command for a duplicate")
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	ti, err := insp.GetTaskInfo(queue, second.ID)
	require.NoError(t, err)
	var r tasks.MailResult
	require.NoError(t, json.Unmarshal(ti.Result, &r))
	require.True(t, r.Duplicate)
	require.False(t, r.Sent)
	require.True(t, strings.HasSuffix(r.MessageID, "@example.test"))
}

// B16 S4 through workers: rejected credentials archive one mail per pause
// and reschedule the rest (no retry used), instead of one AUTH per mail.
func TestRejectedCredentialsPauseTheTransport(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	certs := selfSigned(t)
	srv := smtptest.Start(t, smtptest.Options{
		TLS: certs.Server, AuthMechs: []string{"PLAIN"},
		Handler: on("AUTH", 0, smtptest.Action{Reply: "535 5.7.8 authentication credentials invalid"}),
	})
	o := fakeOpts(srv)
	o.SMTP.TLS, o.SMTP.Auth, o.SMTP.TLSConfig = mailer.TLSMandatory, mailer.AuthAuto, certs.Client
	o.SMTP.Username, o.SMTP.Password = "shop", "hunter2"
	o.SMTP.FailurePause = 500 * time.Millisecond
	queue := testenv.Queue(t, "mail")
	var r runs
	startWorker(t, queue, 4, newMailer(t, o), &r)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	var ids []string
	for i := range 3 {
		info := enqueueMail(t, client, queue, tasks.MailSendPayload{
			Template: tasks.TemplateOrderFailed, To: "ada@example.test",
			Data: sampleData()[tasks.TemplateOrderFailed], EffectKey: fmt.Sprint("s4:", i),
		})
		ids = append(ids, info.ID)
	}
	waitQueue(t, queue, "3 archived", func(q *asynq.QueueInfo) bool { return q.Archived == 3 })

	require.Equal(t, 3, srv.Sessions(), "one AUTH attempt per pause")
	require.Positive(t, r.throttled.Load())
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	for _, id := range ids {
		ti, err := insp.GetTaskInfo(queue, id)
		require.NoError(t, err)
		require.Equal(t, 0, ti.Retried)
		require.Contains(t, ti.LastErr, "535")
		require.NotContains(t, ti.LastErr, "hunter2")
	}
}

// B11: while the mail queue is paused nothing goes out, producers keep
// enqueueing and delayed mails become due; after unpausing every order
// gets exactly one mail with its own Message-ID.
func TestPausedQueueSendsNothingThenEverythingOnce(t *testing.T) {
	t.Parallel()
	testenv.RequireRealRedis(t)
	const orders, delayed = 300, 50
	srv := smtptest.Start(t, smtptest.Options{KeepMessages: true})
	queue := testenv.Queue(t, "mail")
	insp := asynq.NewInspector(redisOpt(t))
	defer func() { _ = insp.Close() }()
	o := fakeOpts(srv)
	o.SMTP.PoolSize = 4
	startWorker(t, queue, 8, newMailer(t, o), nil)

	client := asynq.NewClient(redisOpt(t))
	defer func() { _ = client.Close() }()
	enqueueMail(t, client, queue, tasks.MailSendPayload{ // creates the queue before pausing it
		Template: tasks.TemplateOrderFailed, To: "ops@example.test",
		Data: sampleData()[tasks.TemplateOrderFailed], EffectKey: "b11:warmup",
	})
	waitQueue(t, queue, "warm-up sent", func(q *asynq.QueueInfo) bool { return q.Completed == 1 })
	require.NoError(t, insp.PauseQueue(queue))

	for i := range orders {
		var opts []asynq.Option
		if i < delayed {
			opts = append(opts, asynq.ProcessIn(time.Second))
		}
		enqueueMail(t, client, queue, tasks.MailSendPayload{
			Template: tasks.TemplateOrderConfirmation, To: fmt.Sprintf("c%d@example.test", i),
			Data: orderData(i), EffectKey: fmt.Sprintf("order-confirmation:b11:%d", i),
		}, opts...)
	}
	waitQueue(t, queue, "delayed mails due while paused", func(q *asynq.QueueInfo) bool {
		return q.Paused && q.Pending == orders && q.Scheduled == 0
	})
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 1, srv.Accepted(), "nothing sent while paused")

	require.NoError(t, insp.UnpauseQueue(queue))
	waitQueue(t, queue, "all sent", func(q *asynq.QueueInfo) bool { return q.Completed == orders+1 })
	require.Equal(t, orders+1, srv.Accepted())
	ids := map[string]bool{}
	for _, msg := range srv.Messages() {
		for line := range strings.SplitSeq(string(msg.Data), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
				ids[v] = true
			}
		}
	}
	require.Len(t, ids, orders+1, "one Message-ID per order")
}
