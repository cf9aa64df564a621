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
// reserve), 5 version (set; a 20-digit zero-padded string compared as a
// string, since Lua numbers are doubles) or reason (adjust), 6 now in ms,
// 7 reservation lifetime in ms, 8 record lifetime in ms, 9 low-stock
// threshold (< 0: off).
//
// The outcome is stored in the operation record under the action's name
// before it is returned: a repeat returns it with duplicate = true and
// changes nothing. Ledger index entries older than the record lifetime are
// trimmed by the expiry sweep, not here, to keep the script short.
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
  return (string.gsub(prev, '"duplicate":false', '"duplicate":true', 1))
end

-- JSON by hand: cjson.encode costs several times the rest of the script.
local function q(str)
  return '"' .. (string.gsub(str, '[%c"\\]', function(c) return string.format('\\u%04x', string.byte(c)) end)) .. '"'
end
local function b(v) if v then return 'true' end return 'false' end

local v = redis.call('HMGET', stock, 'on_hand', 'reserved', 'version', 'ledger_on_hand', 'ledger_reserved',
  'low', 'out', 'low_seq', 'bis_seq')
local exists = v[1] ~= false
local on, res = tonumber(v[1] or '0'), tonumber(v[2] or '0')
local r = {sku = sku, operation_id = op, applied = false, granted = false, duplicate = false}
local don, dres = 0, 0
local sf, of = {}, {}

if action == 'set' then
  if exists and v[3] and arg <= v[3] then
    r.stale = true
    r.reason = 'version not newer than applied'
  else
    don = n - on
    sf[#sf + 1] = 'version'
    sf[#sf + 1] = arg
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
    of = {'qty', n, 'state', 'reserved'}
    redis.call('HSET', held, op, n)
    redis.call('ZADD', exp, now + resttl, op)
  end
else
  local rec = redis.call('HMGET', opk, 'state', 'qty')
  local state = rec[1]
  if state ~= 'reserved' then
    if state then r.reason = 'reservation ' .. state else r.reason = 'not reserved' end
  else
    local q = tonumber(rec[2])
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
    of = {'state', to}
    redis.call('HDEL', held, op)
    redis.call('ZREM', exp, op)
  end
end

on = on + don
res = res + dres
local avail = on - res
if r.applied then
  for _, x in ipairs({'on_hand', on, 'reserved', res, 'ledger_on_hand', tonumber(v[4] or '0') + don,
      'ledger_reserved', tonumber(v[5] or '0') + dres}) do
    sf[#sf + 1] = x
  end
end

if exists or r.applied then
  if threshold >= 0 then
    local waslow = (not v[6]) or v[6] == '1'
    local islow = avail < threshold
    if islow ~= waslow then
      sf[#sf + 1] = 'low'
      sf[#sf + 1] = islow and '1' or '0'
    end
    if islow and not waslow then
      r.low_stock = tonumber(v[8] or '0') + 1
      sf[#sf + 1] = 'low_seq'
      sf[#sf + 1] = r.low_stock
    end
  end
  local wasout = (not v[7]) or v[7] == '1'
  local isout = avail <= 0
  if isout ~= wasout then
    sf[#sf + 1] = 'out'
    sf[#sf + 1] = isout and '1' or '0'
  end
  if wasout and not isout then
    local members = redis.call('SMEMBERS', subs)
    if #members > 0 then
      local seq = tonumber(v[9] or '0') + 1
      sf[#sf + 1] = 'bis_seq'
      sf[#sf + 1] = seq
      redis.call('HSET', bis, seq, cjson.encode(members))
      redis.call('PEXPIRE', bis, keep)
      redis.call('DEL', subs)
      r.back_in_stock = seq
    end
  end
end
if #sf > 0 then redis.call('HSET', stock, unpack(sf)) end

local enc = string.format('{"sku":%s,"operation_id":%s,"applied":%s,"granted":%s,"duplicate":false,' ..
  '"stale":%s,"reason":%s,"quantity":%d,"on_hand":%d,"reserved":%d,"available":%d,"low_stock":%d,' ..
  '"back_in_stock":%d,"ledger_on_hand":%d,"ledger_reserved":%d,"at":%d}',
  q(sku), q(op), b(r.applied), b(r.granted), b(r.stale), q(r.reason or ''), r.quantity or 0, on, res, avail,
  r.low_stock or 0, r.back_in_stock or 0, don, dres, now)
of[#of + 1] = action
of[#of + 1] = enc
redis.call('HSET', opk, unpack(of))
redis.call('PEXPIRE', opk, keep)
redis.call('ZADD', ledger, now, op)
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
