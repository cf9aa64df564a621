package mailer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Effect records (hash-tagged per effect key, so both keys share a Redis
// Cluster slot):
//
//	{prefix}{mail:<effect key>}:sent   Message-ID of the mail sent for the
//	                                   key; lives EffectTTL
//	{prefix}{mail:<effect key>}:lease  token of the worker sending it now;
//	                                   lives as long as one send may take
//
// The lease keeps two workers that run the same effect at the same time
// (a task enqueued twice) from both sending: the second waits and then
// finds the sent record.

// Claim is the outcome of checking an effect key before sending.
type Claim struct {
	// Duplicate: the key's mail was sent before; MessageID is its ID.
	Duplicate bool
	MessageID string
	// Busy > 0: another worker is sending this key now; look again after
	// Busy.
	Busy time.Duration

	key   string
	token string
}

// Held reports whether the claim allows sending.
func (c Claim) Held() bool { return c.token != "" }

var claimScript = redis.NewScript(`
local sent = redis.call('GET', KEYS[1])
if sent then return {1, sent} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, ''} end
return {2, tostring(redis.call('PTTL', KEYS[2]))}
`)

var recordScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then return redis.call('DEL', KEYS[2]) end
return 0
`)

// errNoStore: the Mailer was built without a store.
var errNoStore = errors.New("mailer has no store")

func (m *Mailer) effectKeys(key string) []string {
	return []string{m.store.TagKey("mail", key, "sent"), m.store.TagKey("mail", key, "lease")}
}

// Claim checks the effect record of key and, when its mail has not been
// sent, takes a lease for sending it, good for lease (at least the time a
// send may take).
func (m *Mailer) Claim(ctx context.Context, key string, lease time.Duration) (Claim, error) {
	if m.store == nil {
		return Claim{}, errNoStore
	}
	token := randomToken()
	res, err := claimScript.Run(ctx, m.store.RDB, m.effectKeys(key), token, lease.Milliseconds()).Slice()
	if err != nil {
		return Claim{}, fmt.Errorf("claim effect %s: %w", key, err)
	}
	if len(res) != 2 {
		return Claim{}, fmt.Errorf("claim effect %s: unexpected reply %v", key, res)
	}
	state, _ := res[0].(int64)
	val, _ := res[1].(string)
	switch state {
	case 1:
		return Claim{Duplicate: true, MessageID: val, key: key}, nil
	case 2:
		var ms int64
		_, _ = fmt.Sscan(val, &ms)
		return Claim{Busy: max(time.Duration(ms)*time.Millisecond, 100*time.Millisecond), key: key}, nil
	}
	return Claim{key: key, token: token}, nil
}

// Record writes that c's mail was sent with messageID, and drops the lease.
func (m *Mailer) Record(ctx context.Context, c Claim, messageID string) error {
	if !c.Held() {
		return errors.New("record effect: claim not held")
	}
	if m.store == nil {
		return errNoStore
	}
	err := recordScript.Run(ctx, m.store.RDB, m.effectKeys(c.key), c.token, messageID,
		m.effectTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("record effect %s: %w", c.key, err)
	}
	return nil
}

// Release drops c's lease without a record (the send failed), so a retry
// need not wait for the lease to expire.
func (m *Mailer) Release(ctx context.Context, c Claim) error {
	if !c.Held() || m.store == nil {
		return nil
	}
	if err := releaseScript.Run(ctx, m.store.RDB, m.effectKeys(c.key), c.token).Err(); err != nil {
		return fmt.Errorf("release effect %s: %w", c.key, err)
	}
	return nil
}

// rateScript is a generic cell rate algorithm over Redis' clock: one slot
// every 1/rate seconds, with a burst of one second's worth. It takes a
// slot and returns 0, or returns how many microseconds to wait for one.
// Redis' TIME is the one clock all workers share.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat + interval - burst
if allow_at > now then return math.ceil(allow_at - now) end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
`)

// Allow takes a slot of the transport's rate limit. It returns 0 when the
// mail may go now, or how long to wait before asking again; a waiting
// mail has taken nothing.
func (m *Mailer) Allow(ctx context.Context) (time.Duration, error) {
	if m.opts.RatePerSecond <= 0 {
		return 0, nil
	}
	if m.store == nil {
		return 0, errNoStore
	}
	interval := 1e6 / m.opts.RatePerSecond
	burst := interval * math.Max(1, math.Floor(m.opts.RatePerSecond))
	wait, err := rateScript.Run(ctx, m.store.RDB, []string{m.store.Key("mail", "rate", m.opts.Transport)},
		int64(math.Ceil(interval)), int64(math.Ceil(burst))).Int64()
	if err != nil {
		return 0, fmt.Errorf("mail rate limit: %w", err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
