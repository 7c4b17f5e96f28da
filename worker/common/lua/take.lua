-- Load a task and, when nothing stands in the way, start its run: what
-- HGETALL followed by start.lua did, in one script (one round trip, one
-- call).  The fields the worker uses come back whenever there is a
-- hash, so the worker knows the task whatever the code.  The run is only
-- started when the worker would start it at once; anything it must look at first
-- (a finished status, a run_at still ahead or not a plain number, a
-- queue field that is no queue name, a type the worker holds back for
-- its concurrency cap) comes back as "loaded, not started" (2), and the
-- worker goes on as after a plain load (start.lua when it runs it).
-- The start itself is start.lua's: the attempt is counted before the run
-- (attempts used up: not run, -3), the TTL goes, status running.
-- KEYS[1] task hash.  ARGV: stream, group, entry, now (ms), the max
-- attempts of a type not listed, then pairs: a type and its max attempts,
-- or the type and "hold" (never started here).
-- Returns {code, attempts, the values of status, cancel_requested,
-- run_at, queue, type, attempts, priority, callback_url, content_type,
-- payload, traceparent (in that order; nil when not set)}: code -3 attempts used up,
-- -2 entry not pending (no values), -1 hash gone, 0 cancel requested,
-- 1 started, 2 loaded, not started.
local p = redis.pcall('XPENDING', ARGV[1], ARGV[2], ARGV[3], ARGV[3], 1)
if type(p) == 'table' and not p.err and #p == 0 then return {-2, 0, {}} end
local v = redis.call('HMGET', KEYS[1], '@TGW_F_STATUS@',
                     '@TGW_F_CANCEL_REQUESTED@', '@TGW_F_RUN_AT@',
                     '@TGW_F_QUEUE@', '@TGW_F_TYPE@', '@TGW_F_ATTEMPTS@',
                     '@TGW_F_PRIORITY@', '@TGW_F_CALLBACK_URL@',
                     '@TGW_F_CONTENT_TYPE@', '@TGW_F_PAYLOAD@',
                     '@TGW_F_TRACEPARENT@')
if not v[1] and not v[5] and redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1, 0, {}}
end
local c = v[2]
if c and c ~= '' and c ~= '0' then return {0, 0, v} end
local s = v[1]
if s == '@TGW_ST_SUCCEEDED@' or s == '@TGW_ST_DEAD@'
   or s == '@TGW_ST_CANCELLED@' then
  return {2, 0, v}
end
local r = v[3]
if r and r ~= '' and (not string.match(r, '^%d+$') or #r > 15
                      or tonumber(r) > tonumber(ARGV[4]) + 50) then
  return {2, 0, v}
end
local q = v[4]
if q and (#q == 0 or #q > 64 or string.find(q, '[^A-Za-z0-9._-]')) then
  return {2, 0, v}
end
local max = tonumber(ARGV[5])
local t = v[5]
for i = 6, #ARGV - 1, 2 do
  if ARGV[i] == t then
    if ARGV[i + 1] == 'hold' then return {2, 0, v} end
    max = tonumber(ARGV[i + 1])
  end
end
local n = tonumber(v[6] or '0')
if n == nil or n ~= n or n < 0 then n = 0 end
n = math.floor(n)
if n > 1000000000 then n = 1000000000 end
if n >= max then return {-3, n, v} end
n = n + 1
redis.call('HSET', KEYS[1], '@TGW_F_STATUS@', '@TGW_ST_RUNNING@',
           '@TGW_F_STARTED_AT@', ARGV[4], '@TGW_F_ATTEMPTS@',
           string.format('%d', n))
redis.call('PERSIST', KEYS[1])
return {1, n, v}
