package inventory

import "github.com/redis/go-redis/v9"

// opScript applies one inventory operation to one SKU. Every key it touches
// carries the SKU's hash tag, so it runs on Redis Cluster.
//
// KEYS: 1 stock hash, 2 operation record, 3 held reservations (op -> qty),
// 4 reservation expiries (zset op -> ms), 5 back-in-stock subscribers (set),
// 6 back-in-stock notifications (hash seq -> JSON list), 7 ledger index
// (zset op -> ms).
//
// ARGV: 1 action (set, adjust, reserve, commit, release, expire), 2 sku,
// 3 operation id, 4 amount (on hand for set, delta for adjust, quantity for
// reserve), 5 version (set) or reason (adjust), 6 now in ms, 7 reservation
// lifetime in ms, 8 record lifetime in ms, 9 low-stock threshold (< 0: off).
//
// The outcome is stored in the operation record under the action's name
// before it is returned: a repeat returns it with duplicate = true and
// changes nothing.
var opScript = redis.NewScript(`
local stock, opk, held, exp, subs, bis, ledger = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local action, sku, op = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
local arg = ARGV[5]
local now = tonumber(ARGV[6])
local resttl = tonumber(ARGV[7])
local keep = tonumber(ARGV[8])
local threshold = tonumber(ARGV[9])

local prev = redis.call('HGET', opk, action)
if prev then
  local r = cjson.decode(prev)
  r.duplicate = true
  return cjson.encode(r)
end

local exists = redis.call('EXISTS', stock) == 1
local function num(f) return tonumber(redis.call('HGET', stock, f) or '0') end
local on, res = num('on_hand'), num('reserved')
local r = {sku = sku, operation_id = op, applied = false, granted = false, duplicate = false}
local don, dres = 0, 0

if action == 'set' then
  local ver = tonumber(arg)
  if exists and ver <= num('version') then
    r.stale = true
    r.reason = 'version not newer than applied'
  else
    don = n - on
    redis.call('HSET', stock, 'version', arg)
    r.applied = true
  end
elseif action == 'adjust' then
  don = n
  r.applied = true
  r.reason = arg
elseif action == 'reserve' then
  r.quantity = n
  if not exists then
    r.reason = 'unknown sku'
  elseif on - res < n then
    r.reason = 'insufficient stock'
  else
    dres = n
    r.granted = true
    r.applied = true
    redis.call('HSET', opk, 'qty', n, 'state', 'reserved')
    redis.call('HSET', held, op, n)
    redis.call('ZADD', exp, now + resttl, op)
  end
else
  local state = redis.call('HGET', opk, 'state')
  if state ~= 'reserved' then
    if state then r.reason = 'reservation ' .. state else r.reason = 'not reserved' end
  else
    local q = tonumber(redis.call('HGET', opk, 'qty'))
    r.quantity = q
    dres = -q
    local to = 'released'
    if action == 'commit' then
      don = -q
      to = 'committed'
    elseif action == 'expire' then
      to = 'expired'
    end
    r.applied = true
    redis.call('HSET', opk, 'state', to)
    redis.call('HDEL', held, op)
    redis.call('ZREM', exp, op)
  end
end

on = on + don
res = res + dres
local avail = on - res
if r.applied then
  redis.call('HSET', stock, 'on_hand', on, 'reserved', res)
  redis.call('HINCRBY', stock, 'ledger_on_hand', don)
  redis.call('HINCRBY', stock, 'ledger_reserved', dres)
end

if exists or r.applied then
  if threshold >= 0 then
    local low = redis.call('HGET', stock, 'low')
    local waslow = (not low) or low == '1'
    local islow = avail < threshold
    if islow ~= waslow then redis.call('HSET', stock, 'low', islow and '1' or '0') end
    if islow and not waslow then r.low_stock = redis.call('HINCRBY', stock, 'low_seq', 1) end
  end
  local out = redis.call('HGET', stock, 'out')
  local wasout = (not out) or out == '1'
  local isout = avail <= 0
  if isout ~= wasout then redis.call('HSET', stock, 'out', isout and '1' or '0') end
  if wasout and not isout then
    local members = redis.call('SMEMBERS', subs)
    if #members > 0 then
      local seq = redis.call('HINCRBY', stock, 'bis_seq', 1)
      redis.call('HSET', bis, seq, cjson.encode(members))
      redis.call('PEXPIRE', bis, keep)
      redis.call('DEL', subs)
      r.back_in_stock = seq
    end
  end
end

r.on_hand, r.reserved, r.available = on, res, avail
r.ledger_on_hand, r.ledger_reserved = don, dres
r.at = now
local enc = cjson.encode(r)
redis.call('HSET', opk, action, enc)
redis.call('PEXPIRE', opk, keep)
redis.call('ZADD', ledger, now, op)
redis.call('ZREMRANGEBYSCORE', ledger, '-inf', now - keep)
return enc
`)

// reconcileScript reads one SKU's counts, ledger sums and held reservations
// in one step. KEYS: 1 stock hash, 2 held reservations. Returns on_hand,
// reserved, ledger_on_hand, ledger_reserved, sum of held, exists (0/1).
var reconcileScript = redis.NewScript(`
local exists = redis.call('EXISTS', KEYS[1])
local v = redis.call('HMGET', KEYS[1], 'on_hand', 'reserved', 'ledger_on_hand', 'ledger_reserved')
local held = 0
for _, q in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(q) end
return {tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0'), tonumber(v[4] or '0'), held, exists}
`)
