"""The Lua every script starts with: argument reading and shared steps.

Conventions of every script:

- ``KEYS[1]`` is the base name of the slot the script works in (a user's
  ``P:{app/user}``, an app's ``P:{app}`` or the global ``P:{#}``); the
  script derives its key names from it (they share its hash tag, so its
  slot). On one Redis server, session scripts also get ``KEYS[2]`` (the
  app's base) and ``KEYS[3]`` (the global base) and then do the app-wide
  bookkeeping in the same atomic step; on a cluster that lives in other
  slots, so the backend runs it in a second script (see :mod:`.scripts`).
- Arguments are read in order with ``arg()``. ``''`` stands for None.
- Floats travel as text and are written back with ``%.17g``, so nothing
  loses precision (Lua's own number-to-text conversion keeps 14 digits).
- Replies are arrays of strings and integers only, never booleans, so they
  read the same under RESP2 and RESP3.
"""

from __future__ import annotations

PRELUDE = r"""
local argi = 0
local function arg()
  argi = argi + 1
  return ARGV[argi]
end

local function num(s)
  if not s or s == '' then return nil end
  return tonumber(s)
end

local function fmt(x)
  return string.format('%.17g', x)
end

local function each_chunk(command, key, list, step)
  for i = 1, #list, step do
    redis.call(command, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end

-- Apply a change list read from the arguments to a hash: a count, then
-- key/JSON pairs; '' deletes the key (no JSON text is empty).
local function apply(key)
  local n = tonumber(arg())
  local sets, dels = {}, {}
  for _ = 1, n do
    local k, v = arg(), arg()
    if v == '' then
      dels[#dels + 1] = k
    else
      sets[#sets + 1] = k
      sets[#sets + 1] = v
    end
  end
  each_chunk('HSET', key, sets, 2000)
  each_chunk('HDEL', key, dels, 1000)
end

-- sessiondb._core.expiry.expires_at
local function expiry(now, idle, deadline)
  local x = nil
  if idle then x = now + idle end
  if deadline and (not x or deadline < x) then x = deadline end
  return x
end

-- Redis's own expiry only collects garbage: the lifetime left by the
-- store's clock, plus a grace period.
local function collect(keys, x, now, grace)
  if not x then return end
  local ms = string.format('%.0f', math.max(math.ceil((x - now) * 1000), 0) + grace)
  for _, k in ipairs(keys) do redis.call('PEXPIRE', k, ms) end
end

local function session_keys(base, sid)
  return base .. ':h:' .. sid, base .. ':e:' .. sid, base .. ':s:' .. sid, base .. ':k:' .. sid
end

local function hgetall(key)
  return redis.call('HGETALL', key)
end

-- Stored events first..last (seqs) of an events list, in order.
local function window(key, first, last)
  if first > last then return {} end
  return redis.call('LRANGE', key, first - 1, last - 1)
end

-- [version, expires_at, idle_ttl, deadline] of a head read by HMGET.
local function head_reply(f)
  return {f[1], f[2] or '', f[3] or '', f[4] or ''}
end

-- The app slot's part of registering a session (or a user) in an app.
local function register_app(app_base, member, user)
  if member ~= '' then redis.call('ZADD', app_base .. ':l', 0, member) end
  if user ~= '' then redis.call('ZADD', app_base .. ':u', 0, user) end
end

-- The global part: the app is known, and a lower bound of the user's
-- earliest expiry is indexed for purge_expired (the counter tells a purge
-- on a cluster that a session was registered while it ran).
local function register_global(global_base, app, uid, x)
  redis.call('SADD', global_base .. ':apps', app)
  if x then
    redis.call('ZADD', global_base .. ':x', 'LT', fmt(x), uid)
    redis.call('HINCRBY', global_base .. ':g', uid, 1)
  end
end

-- Delete up to max sessions of a user expired at now; how many, the earliest
-- expiry left (or nil) and the app-index members to drop.
local function purge_user(base, user, now, max)
  local doomed = redis.call('ZRANGEBYSCORE', base .. ':x', '-inf', now, 'LIMIT', 0, max)
  local count, gone = 0, {}
  for _, member in ipairs(doomed) do
    local order, sid = string.match(member, '^(%S+) (%S+)$')
    local h, e, s, k = session_keys(base, sid)
    local f = redis.call('HMGET', h, 'o', 'x')
    if f[1] == order and f[2] and tonumber(f[2]) <= tonumber(now) then
      redis.call('UNLINK', h, e, s, k)
      count = count + 1
    end
    redis.call('ZREM', base .. ':l', member)
    redis.call('ZREM', base .. ':x', member)
    gone[#gone + 1] = order .. ' ' .. user .. ' ' .. sid
  end
  local first = redis.call('ZRANGE', base .. ':x', 0, 0, 'WITHSCORES')
  return count, first[2], gone
end

-- A live session's listing row, or nil if it is gone, expired or filtered out.
local function summary(base, sid, now, after, wanted)
  local f = redis.call('HMGET', base .. ':h:' .. sid, 'v', 'x', 'c', 't', 'm')
  if not f[1] then return nil end
  local x = num(f[2])
  if x and now >= x then return nil end
  if after and tonumber(f[4]) <= after then return nil end
  if wanted then
    local meta = cjson.decode(f[5])
    for k, v in pairs(wanted) do
      if meta[k] ~= v then return nil end
    end
  end
  return {sid, f[1], f[2] or '', f[3], f[4], f[5], hgetall(base .. ':s:' .. sid)}
end
"""


def script(body: str) -> str:
    """A complete script: the prelude, then ``body``."""
    return PRELUDE + body
