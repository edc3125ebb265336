"""Lua scripts for the less frequent operations: deleting a user, purging,
export and import, rewriting stored texts. The conventions are those of
:mod:`.lua`."""

from __future__ import annotations

DELETE_USER = """
local U, A, G = KEYS[1], KEYS[2], KEYS[3]
local app, user = arg(), arg()
local count, gone = 0, {}
for _, member in ipairs(redis.call('ZRANGE', U .. ':l', 0, -1)) do
  local order, sid = string.match(member, '^(%S+) (%S+)$')
  local h, e, s, k = session_keys(U, sid)
  count = count + redis.call('UNLINK', h)
  redis.call('UNLINK', e, s, k)
  gone[#gone + 1] = order .. ' ' .. user .. ' ' .. sid
end
redis.call('UNLINK', U .. ':l', U .. ':x', U .. ':u')
if A then
  each_chunk('ZREM', A .. ':l', gone, 1000)
  redis.call('ZREM', A .. ':u', user)
  redis.call('ZREM', G .. ':x', app .. '/' .. user)
  redis.call('HDEL', G .. ':g', app .. '/' .. user)
end
return {count, gone}
"""

# One server: purge users from the global expiry index until ``limit``
# sessions are gone or ``max_users`` users were visited (then the reply
# says "more", and the backend calls again: no script runs for long).
PURGE = """
local G = KEYS[1]
local P, now, limit, max_users = arg(), arg(), tonumber(arg()), tonumber(arg())
local count, visited = 0, 0
while count < limit and visited < max_users do
  local uids = redis.call('ZRANGEBYSCORE', G .. ':x', '-inf', now, 'LIMIT', 0, 100)
  if #uids == 0 then return {count, 0} end
  for _, uid in ipairs(uids) do
    local app, user = string.match(uid, '^([^/]+)/(.+)$')
    local n, first, gone = purge_user(P .. ':{' .. uid .. '}', user, now, limit - count)
    each_chunk('ZREM', P .. ':{' .. app .. '}:l', gone, 1000)
    if first then
      redis.call('ZADD', G .. ':x', first, uid)
    else
      redis.call('ZREM', G .. ':x', uid)
    end
    count = count + n
    visited = visited + 1
    if count >= limit or visited >= max_users then break end
  end
end
if count < limit then return {count, 1} end
return {count, 0}
"""

# Cluster: one user's part of a purge, in the user's slot.
PURGE_USER = """
local n, first, gone = purge_user(KEYS[1], arg(), arg(), tonumber(arg()))
return {n, first or '', gone}
"""

# Cluster: move a user's entry in the global expiry index to what its purge
# left (or drop it) -- unless a session was registered meanwhile (the counter
# moved), in which case the entry keeps its lower, still valid, bound.
PURGE_CAS = """
local uid, seen, first = arg(), arg(), arg()
if (redis.call('HGET', KEYS[1] .. ':g', uid) or '') ~= seen then return 0 end
if first == '' then
  redis.call('ZREM', KEYS[1] .. ':x', uid)
else
  redis.call('ZADD', KEYS[1] .. ':x', first, uid)
end
return 1
"""

BUNDLE = """
local sid, max = arg(), tonumber(arg())
local h, e, s, k = session_keys(KEYS[1], sid)
local f = redis.call('HMGET', h, 'v', 'c', 't', 'x', 'i', 'd', 'm', 'b')
if not f[1] then return {0} end
for i = 2, 8 do f[i] = f[i] or '' end
return {1, f, hgetall(s), hgetall(k), window(e, 1, math.min(tonumber(f[1]), max))}
"""

RESTORE = """
local U, A, G = KEYS[1], KEYS[2], KEYS[3]
local sid, version, created, updated, x_s, idle, deadline = arg(), arg(), arg(), arg(), arg(),
  arg(), arg()
local meta, base, order, app, user = arg(), arg(), arg(), arg(), arg()
local h, e, s, k = session_keys(U, sid)
if redis.call('EXISTS', h) == 1 then return {0} end
local fields = {'v', version, 'c', created, 't', updated, 'm', meta, 'b', base, 'o', order}
for _, f in ipairs({{'x', x_s}, {'i', idle}, {'d', deadline}}) do
  if f[2] ~= '' then fields[#fields + 1] = f[1]; fields[#fields + 1] = f[2] end
end
redis.call('HSET', h, unpack(fields))
local rows = {}
for seq = 1, tonumber(arg()) do rows[seq] = arg() end
each_chunk('RPUSH', e, rows, 1000)
apply(s)
apply(k)
local member = order .. ' ' .. sid
redis.call('ZADD', U .. ':l', 0, member)
if x_s ~= '' then redis.call('ZADD', U .. ':x', x_s, member) end
if A then
  register_app(A, order .. ' ' .. user .. ' ' .. sid, user)
  register_global(G, app, app .. '/' .. user, num(x_s))
end
return {1}
"""

# Rewrite a session's stored texts in place, if its version is still the
# one given: first read and check every event it names, then write.
# Replies 1 done, 0 gone or moved on, -1 a stored event of unknown shape.
REPLACE_SESSION = """
local U = KEYS[1]
local sid, old, meta, base = arg(), tonumber(arg()), arg(), arg()
local h, e, s = session_keys(U, sid)
local v = redis.call('HGET', h, 'v')
if not v or tonumber(v) ~= old then return 0 end
local at, rows = {}, {}
for i = 1, tonumber(arg()) do
  local seq, texts = tonumber(arg()), arg()
  local stored = redis.call('LINDEX', e, seq - 1)
  if not stored then return -1 end
  local head = string.match(stored, '^%[[^,]*,[^,]*,[^,]*,')
  local tail = string.match(stored, ',[^,]*%]$')
  if not head or not tail then return -1 end
  at[i], rows[i] = seq - 1, head .. texts .. tail
end
redis.call('HSET', h, 'm', meta, 'b', base)
redis.call('DEL', s)
apply(s)
local ttl = redis.call('PTTL', h)
if ttl > 0 then redis.call('PEXPIRE', s, ttl) end
for i = 1, #at do redis.call('LSET', e, at[i], rows[i]) end
return 1
"""

# Compare-and-set of shared keys: key, old, new triples; how many were set.
REPLACE_SHARED = """
local key = KEYS[1] .. arg()
local count = 0
for i = argi + 1, #ARGV, 3 do
  if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', key, ARGV[i], ARGV[i + 2])
    count = count + 1
  end
end
return count
"""

ADMIN = {
    "delete_user": DELETE_USER, "purge": PURGE, "purge_user": PURGE_USER,
    "purge_cas": PURGE_CAS, "bundle": BUNDLE, "restore": RESTORE,
    "replace_session": REPLACE_SESSION, "replace_shared": REPLACE_SHARED,
}
