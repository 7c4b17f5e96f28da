-- Load tasks and, when nothing stands in the way, start their runs: one
-- call for the entries one read brought (or for one task alone), each
-- task judged on its own by the same rules.  The fields the worker uses
-- come back whenever there is a hash, so the worker knows the task
-- whatever the code.  A run is only started when the worker would start
-- it at once; anything it must look at first (a finished status, a
-- run_at still ahead or not a plain number, a queue field that is no
-- queue name, a type the worker holds back for its concurrency cap)
-- comes back as "loaded, not started" (2), and the worker goes on as
-- after a plain load (start.lua when it runs it).  The start itself is
-- start.lua's: the attempt is counted before the run (attempts used up:
-- not run, -3), the TTL goes, status running.
-- Each task stands alone: an error on its key (a key of another type,
-- a write Redis refuses) comes back as that task's error and the other
-- tasks are taken as usual.
-- Whether each entry is still pending is asked once per stream for the
-- whole call (XPENDING over the range of its entries; an entry the
-- answer does not name is asked on its own).
-- ARGV: group, the max attempts of a type not listed, the number n of
-- arguments that follow for the types, then n arguments in pairs: a type
-- and its max attempts, or the type and "hold" (never started here);
-- then one block of four per task: stream, entry, task hash key, now
-- (ms).
-- Returns one element per task, in order: {code, attempts, the values of
-- status, cancel_requested, run_at, queue, type, attempts, priority,
-- callback_url, content_type, payload, traceparent (in that order; nil
-- when not set)} or an error.  code -3 attempts used up, -2 entry not
-- pending (no values), -1 hash gone, 0 cancel requested, 1 started, 2
-- loaded, not started.
local g = ARGV[1]
local dmax = tonumber(ARGV[2])
local np = tonumber(ARGV[3])
local first = 4 + np
local rules = {}
for i = 4, first - 2, 2 do
  rules[ARGV[i]] = ARGV[i + 1]
end

-- The entries still pending: one XPENDING per stream (lib/pending.lua).
@include pending
for i = first, #ARGV - 3, 4 do
  note(ARGV[i], ARGV[i + 1])
end
ask_pending()

local function take(s, e, key, now)
  if not pending(s, e) then return {-2, 0, {}} end
  local v = redis.call('HMGET', key, '@TGW_F_STATUS@',
                       '@TGW_F_CANCEL_REQUESTED@', '@TGW_F_RUN_AT@',
                       '@TGW_F_QUEUE@', '@TGW_F_TYPE@', '@TGW_F_ATTEMPTS@',
                       '@TGW_F_PRIORITY@', '@TGW_F_CALLBACK_URL@',
                       '@TGW_F_CONTENT_TYPE@', '@TGW_F_PAYLOAD@',
                       '@TGW_F_TRACEPARENT@')
  if not v[1] and not v[5] and redis.call('EXISTS', key) == 0 then
    return {-1, 0, {}}
  end
  local c = v[2]
  if c and c ~= '' and c ~= '0' then return {0, 0, v} end
  local st = v[1]
  if st == '@TGW_ST_SUCCEEDED@' or st == '@TGW_ST_DEAD@'
     or st == '@TGW_ST_CANCELLED@' then
    return {2, 0, v}
  end
  local r = v[3]
  if r and r ~= '' and (not string.match(r, '^%d+$') or #r > 15
                        or tonumber(r) > tonumber(now) + 50) then
    return {2, 0, v}
  end
  local q = v[4]
  if q and (#q == 0 or #q > 64 or string.find(q, '[^A-Za-z0-9._-]')) then
    return {2, 0, v}
  end
  local max = dmax
  local rule = v[5] and rules[v[5]]
  if rule == 'hold' then return {2, 0, v} end
  if rule then max = tonumber(rule) end
  local n = tonumber(v[6] or '0')
  if n == nil or n ~= n or n < 0 then n = 0 end
  n = math.floor(n)
  if n > 1000000000 then n = 1000000000 end
  if n >= max then return {-3, n, v} end
  n = n + 1
  redis.call('HSET', key, '@TGW_F_STATUS@', '@TGW_ST_RUNNING@',
             '@TGW_F_STARTED_AT@', now, '@TGW_F_ATTEMPTS@',
             string.format('%d', n))
  redis.call('PERSIST', key)
  return {1, n, v}
end

local out = {}
for i = first, #ARGV - 3, 4 do
  local ok, r = pcall(take, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  if ok then
    out[#out + 1] = r
  elseif type(r) == 'table' and r.err then
    out[#out + 1] = r
  else
    r = tostring(r)
    if not string.match(r, '^[A-Z]+ ') then r = 'ERR ' .. r end
    out[#out + 1] = {err = r}
  end
end
return out
