"""The Lua scripts of the Redis backend, one per operation.

Each session script runs atomically in its user's slot and decides exactly
as :mod:`sessiondb._core.decisions` does; when it refuses, it returns a
status and the session's head, and the backend asks the core for the
error to raise (so messages and ``ConflictError.expected/actual`` are the
core's own). Statuses: 0 no such session, 1 done, 2 expired, 3 the
idempotency key was used before (the reply holds what it stored), 4 the
expected version does not match.

``shared_update`` writes an app's or a user's shared state directly.
The scripts named ``app_step``, ``global_step``, ``summaries``,
``purge_user`` and ``purge_cas`` serve Redis Cluster only: there, what one
server does inside the session script (``app:`` state, the app's session
index, the global expiry index) needs calls to other slots.
"""

from __future__ import annotations

from .lua import script
from .scripts_admin import ADMIN

CREATE = """
local U, A, G = KEYS[1], KEYS[2], KEYS[3]
local sid, now, x_s, idle, deadline = arg(), arg(), arg(), arg(), arg()
local meta, base, order, grace, app, user = arg(), arg(), arg(), tonumber(arg()), arg(), arg()
local h, e, s = session_keys(U, sid)
if redis.call('EXISTS', h) == 1 then return {0} end
local fields = {'v', 0, 'c', now, 't', now, 'm', meta, 'b', base, 'o', order}
for _, f in ipairs({{'x', x_s}, {'i', idle}, {'d', deadline}}) do
  if f[2] ~= '' then fields[#fields + 1] = f[1]; fields[#fields + 1] = f[2] end
end
redis.call('HSET', h, unpack(fields))
apply(s)
apply(U .. ':u')
local member = order .. ' ' .. sid
redis.call('ZADD', U .. ':l', 0, member)
local x = num(x_s)
if x then
  redis.call('ZADD', U .. ':x', x_s, member)
  collect({h, s}, x, tonumber(now), grace)
end
local shared = {}
if A then
  apply(A .. ':a')
  register_app(A, order .. ' ' .. user .. ' ' .. sid, user)
  register_global(G, app, app .. '/' .. user, x)
  shared = hgetall(A .. ':a')
end
return {1, hgetall(U .. ':u'), shared}
"""

LOAD = """
local U, A = KEYS[1], KEYS[2]
local sid, now, limit = arg(), tonumber(arg()), tonumber(arg())
local after, before = num(arg()), num(arg())
local h, e, s = session_keys(U, sid)
local f = redis.call('HMGET', h, 'v', 'x', 'i', 'd', 'c', 't', 'm')
if not f[1] then return {0} end
local head = head_reply(f)
local x = num(f[2])
if x and now >= x then return {2, head} end
local version = tonumber(f[1])
-- sessiondb._core.decisions.seq_range
local low = after and after + 1 or 1
local high = before and math.min(version, before - 1) or version
local first, last
if after then
  first, last = low, math.min(high, low + limit - 1)
else
  first, last = math.max(low, high - limit + 1), high
end
local shared = {}
if A then shared = hgetall(A .. ':a') end
return {1, head, f[5], f[6], f[7], hgetall(s), hgetall(U .. ':u'), shared, first,
        window(e, first, last)}
"""

APPEND = """
local U, A = KEYS[1], KEYS[2]
local sid, now_s, expected, key, fingerprint = arg(), arg(), num(arg()), arg(), arg()
local grace, now = tonumber(arg()), tonumber(now_s)
local h, e, s, k = session_keys(U, sid)
local f = redis.call('HMGET', h, 'v', 'x', 'i', 'd', 'o')
if not f[1] then return {0} end
-- sessiondb._core.decisions.plan_append: idempotency, expiry, expected version
if key ~= '' then
  local prior = redis.call('HGET', k, key)
  if prior then return {3, head_reply(f), prior} end
end
local x = num(f[2])
if x and now >= x then return {2, head_reply(f)} end
local version = tonumber(f[1])
if expected and expected ~= version then return {4, head_reply(f)} end
local n = tonumber(arg())
if n == 0 then return {1, version} end
local rows = {}
for i = 1, n do rows[i] = arg() end
each_chunk('RPUSH', e, rows, 1000)
apply(s)
apply(U .. ':u')
if A then apply(A .. ':a') end
version = version + n
x = expiry(now, num(f[3]), num(f[4]))
if x then
  redis.call('HSET', h, 'v', version, 't', now_s, 'x', fmt(x))
  redis.call('ZADD', U .. ':x', fmt(x), f[5] .. ' ' .. sid)
  collect({h, e, s, k}, x, now, grace)
else
  redis.call('HSET', h, 'v', version, 't', now_s)
end
if key ~= '' then redis.call('HSET', k, key, version .. ' ' .. fingerprint) end
return {1, version}
"""

EVENTS = """
local sid, now, after, limit = arg(), tonumber(arg()), tonumber(arg()), tonumber(arg())
local h, e = session_keys(KEYS[1], sid)
local f = redis.call('HMGET', h, 'v', 'x', 'i', 'd')
if not f[1] then return {0} end
local x = num(f[2])
if x and now >= x then return {2, head_reply(f)} end
return {1, head_reply(f), window(e, after + 1, math.min(tonumber(f[1]), after + limit))}
"""

TOUCH = """
local U = KEYS[1]
local sid, now, grace = arg(), tonumber(arg()), tonumber(arg())
local h, e, s, k = session_keys(U, sid)
local f = redis.call('HMGET', h, 'v', 'x', 'i', 'd', 'o')
if not f[1] then return {0} end
local x = num(f[2])
if x and now >= x then return {2, head_reply(f)} end
x = expiry(now, num(f[3]), num(f[4]))
if not x then return {1, head_reply(f), ''} end
redis.call('HSET', h, 'x', fmt(x))
redis.call('ZADD', U .. ':x', fmt(x), f[5] .. ' ' .. sid)
collect({h, e, s, k}, x, now, grace)
return {1, head_reply(f), fmt(x)}
"""

FORK_READ = """
local sid, now, at = arg(), tonumber(arg()), tonumber(arg())
local h, e = session_keys(KEYS[1], sid)
local f = redis.call('HMGET', h, 'v', 'x', 'i', 'd', 'c', 'b', 'm')
if not f[1] then return {0} end
local x = num(f[2])
if x and now >= x then return {2, head_reply(f)} end
if at > tonumber(f[1]) then return {1, head_reply(f)} end
return {1, head_reply(f), f[5], f[6], f[7], window(e, 1, at)}
"""

FORK_WRITE = """
local U, A, G = KEYS[1], KEYS[2], KEYS[3]
local sid, new, at, created, now = arg(), arg(), tonumber(arg()), arg(), arg()
local x_s, idle, deadline, order, grace, app, user = arg(), arg(), arg(), arg(), tonumber(arg()),
  arg(), arg()
local src_h, src_e = session_keys(U, sid)
local cur = redis.call('HMGET', src_h, 'v', 'c', 'm', 'b')
if not cur[1] or cur[2] ~= created or tonumber(cur[1]) < at then return {2} end
local h, e, s = session_keys(U, new)
if redis.call('EXISTS', h) == 1 then return {0} end
each_chunk('RPUSH', e, window(src_e, 1, at), 1000)
local fields = {'v', at, 'c', now, 't', now, 'm', cur[3], 'b', cur[4], 'o', order}
for _, f in ipairs({{'x', x_s}, {'i', idle}, {'d', deadline}}) do
  if f[2] ~= '' then fields[#fields + 1] = f[1]; fields[#fields + 1] = f[2] end
end
redis.call('HSET', h, unpack(fields))
apply(s)
local member = order .. ' ' .. new
redis.call('ZADD', U .. ':l', 0, member)
local x = num(x_s)
if x then
  redis.call('ZADD', U .. ':x', x_s, member)
  collect({h, e, s}, x, tonumber(now), grace)
end
local shared = {}
if A then
  register_app(A, order .. ' ' .. user .. ' ' .. new, user)
  register_global(G, app, app .. '/' .. user, x)
  shared = hgetall(A .. ':a')
end
return {1, hgetall(U .. ':u'), shared, cur[3]}
"""

DELETE = """
local U, A = KEYS[1], KEYS[2]
local sid, user = arg(), arg()
local h, e, s, k = session_keys(U, sid)
local order = redis.call('HGET', h, 'o')
if not order then return {0} end
redis.call('UNLINK', h, e, s, k)
redis.call('ZREM', U .. ':l', order .. ' ' .. sid)
redis.call('ZREM', U .. ':x', order .. ' ' .. sid)
local member = order .. ' ' .. user .. ' ' .. sid
if A then redis.call('ZREM', A .. ':l', member) end
return {1, member}
"""

# Listing pages: an index (the user's "<order> <sid>" or, on one server, the
# app's "<order> <user> <sid>") read from a cursor, skipping entries that are
# gone, expired or filtered out, until the page is full.
LIST = """
local owner, A = KEYS[1], KEYS[2]
local P, app, user, now, after = arg(), arg(), arg(), tonumber(arg()), num(arg())
local meta, want, start = arg(), tonumber(arg()), arg()
local wanted = nil
if meta ~= '' then wanted = cjson.decode(meta) end
local rows, users, seen = {}, {}, {}
while #rows < want do
  local batch = redis.call('ZRANGEBYLEX', owner .. ':l', start, '+', 'LIMIT', 0, want - #rows)
  if #batch == 0 then break end
  for _, member in ipairs(batch) do
    local u, sid = user, nil
    if user ~= '' then
      sid = string.match(member, ' (%S+)$')
    else
      u, sid = string.match(member, '^%S+ (%S+) (%S+)$')
    end
    local base = P .. ':{' .. app .. '/' .. u .. '}'
    local row = summary(base, sid, now, after, wanted)
    if row then
      table.insert(row, 1, u)
      rows[#rows + 1] = row
      if not seen[u] then
        seen[u] = true
        users[#users + 1] = u
        users[#users + 1] = hgetall(base .. ':u')
      end
    end
  end
  start = '(' .. batch[#batch]
end
local shared = {}
if A then shared = hgetall(A .. ':a') end
return {rows, users, shared}
"""

SUMMARIES = """
local now, after, meta = tonumber(arg()), num(arg()), arg()
local wanted = nil
if meta ~= '' then wanted = cjson.decode(meta) end
local rows = {}
for i = argi + 1, #ARGV do
  local row = summary(KEYS[1], ARGV[i], now, after, wanted)
  if row then rows[#rows + 1] = row end
end
return {rows, hgetall(KEYS[1] .. ':u')}
"""

APP_STEP = """
apply(KEYS[1] .. ':a')
local member, user, want = arg(), arg(), arg()
register_app(KEYS[1], member, user)
if want == '1' then return hgetall(KEYS[1] .. ':a') end
return {}
"""

GLOBAL_STEP = """
local app, uid, x = arg(), arg(), num(arg())
register_global(KEYS[1], app, uid, x)
return 1
"""

# Shared state written directly: apply the changes to one hash of the
# scope's slot (``:u`` of a user's, ``:a`` of an app's) and return it. On
# one server, the user and the app are registered for export in the same
# step; on a cluster, the backend does that first with ``app_step`` and
# ``global_step``.
SHARED_UPDATE = """
local S, A, G = KEYS[1], KEYS[2], KEYS[3]
local hash, app, user = arg(), arg(), arg()
apply(S .. hash)
if A then
  register_app(A, '', user)
  register_global(G, app, '', nil)
end
return hgetall(S .. hash)
"""

SCRIPTS = {name: script(body) for name, body in {
    "create": CREATE, "load": LOAD, "append": APPEND, "events": EVENTS, "touch": TOUCH,
    "fork_read": FORK_READ, "fork_write": FORK_WRITE, "delete": DELETE, "list": LIST,
    "summaries": SUMMARIES, "app_step": APP_STEP, "global_step": GLOBAL_STEP,
    "shared_update": SHARED_UPDATE, **ADMIN,
}.items()}
