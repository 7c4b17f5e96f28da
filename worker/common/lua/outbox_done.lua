-- Write the answer of a webhook try, under the claim it was made in (a
-- claim that is no longer the event's latest changes nothing).
--   delivered, failed  the task's webhook_* fields; the event leaves the
--                      outbox
--   pending            the task's webhook_* fields; the event keeps its
--                      body, URL and traceparent (so every retry sends the
--                      same) and is due again at ARGV[6]
--   drop               the event leaves the outbox, the task untouched
--                      (no URL for it, or its task is gone)
--   release            the event is due again at ARGV[6], nothing counted
--                      (the worker stopped before its try)
-- The task hash is written only while it exists: a task that expired is
-- not brought back as a stub.
-- KEYS[1] outbox, KEYS[2] event hash, KEYS[3] task hash.  ARGV: event id,
-- claim, outcome, attempts, error ("" none), due (ms), body, url,
-- traceparent ("" none).
-- Returns 1 written, 0 the claim is stale.
if redis.call('HGET', KEYS[2], 'claims') ~= ARGV[2] then return 0 end
local o = ARGV[3]
if o == 'release' then
  redis.call('ZADD', KEYS[1], ARGV[6], ARGV[1])
  return 1
end
if o ~= 'drop' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'webhook_status', o,
             'webhook_attempts', ARGV[4])
  if ARGV[5] ~= '' then
    redis.call('HSET', KEYS[3], 'webhook_last_error', ARGV[5])
  end
end
if o == 'pending' then
  redis.call('HSET', KEYS[2], 'attempts', ARGV[4], 'body', ARGV[7],
             'url', ARGV[8])
  if ARGV[9] and ARGV[9] ~= '' then
    redis.call('HSET', KEYS[2], '@TGW_EV_TRACEPARENT@', ARGV[9])
  end
  redis.call('ZADD', KEYS[1], ARGV[6], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
end
return 1
