-- Create a task whole: its hash, and its entry in its queue stream (to
-- run now) or its id in the scheduled set (to run at run_at), as one
-- script, for `taskgwctl enqueue` and the worker's cron ticks.  The
-- module writes the same fields (names from tgw_keys.h) with a plain
-- MULTI/HSET and enqueue.lua: its enqueue is the hot path, and a script
-- that takes every field costs Redis more than twice the CPU of a plain
-- HSET.
-- The stream (or set) write comes first: it is the one that can fail (a
-- key of another type), and then nothing is left behind.  With a guard
-- key (a cron tick), only the first caller creates the task, and the
-- guard is set with it for ARGV[13] ms.
-- KEYS[1] task hash, KEYS[2] queue stream, KEYS[3] scheduled set,
-- KEYS[4] (optional) guard.  ARGV: id, queue, type, priority, payload,
-- content_type, owner, request_id, client_addr, callback_url, created_at
-- ms, run_at ms ("" or "0": now), guard life ms, traceparent.  Fields with
-- nothing in them (content_type through callback_url, run_at,
-- traceparent) are left out.
-- Returns 1 created, 0 the guard was set already (nothing written).
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local run_at = tonumber(ARGV[12]) or 0
local status = '@TGW_ST_QUEUED@'
if run_at > 0 then
  redis.call('ZADD', KEYS[3], ARGV[12], ARGV[1])
  status = '@TGW_ST_SCHEDULED@'
else
  redis.call('XADD', KEYS[2], '*', '@TGW_STREAM_FIELD_ID@', ARGV[1])
end
local f = {'@TGW_F_ID@', ARGV[1], '@TGW_F_QUEUE@', ARGV[2],
           '@TGW_F_TYPE@', ARGV[3], '@TGW_F_PRIORITY@', ARGV[4],
           '@TGW_F_STATUS@', status, '@TGW_F_PAYLOAD@', ARGV[5]}
local optional = {'@TGW_F_CONTENT_TYPE@', '@TGW_F_OWNER@',
                  '@TGW_F_REQUEST_ID@', '@TGW_F_CLIENT_ADDR@',
                  '@TGW_F_CALLBACK_URL@'}
for i, name in ipairs(optional) do
  if ARGV[5 + i] ~= '' then
    f[#f + 1] = name
    f[#f + 1] = ARGV[5 + i]
  end
end
f[#f + 1] = '@TGW_F_CREATED_AT@'
f[#f + 1] = ARGV[11]
f[#f + 1] = '@TGW_F_ATTEMPTS@'
f[#f + 1] = '0'
if run_at > 0 then
  f[#f + 1] = '@TGW_F_RUN_AT@'
  f[#f + 1] = ARGV[12]
end
if ARGV[14] and ARGV[14] ~= '' then
  f[#f + 1] = '@TGW_F_TRACEPARENT@'
  f[#f + 1] = ARGV[14]
end
redis.call('HSET', KEYS[1], unpack(f))
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[13])
end
return 1
