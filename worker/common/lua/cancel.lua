-- The cancel rule, atomic in Redis: only a queued, scheduled or retrying
-- task may be cancelled.  A queued task gets cancel_requested and the
-- worker marks it cancelled instead of running it; a scheduled or
-- retrying task still in the scheduled set is taken out and cancelled at
-- once (its hash kept ARGV[3] ms, the worker's default result_ttl).  Used
-- by the module's DELETE and by `taskgwctl task cancel`.
-- KEYS[1] task hash, KEYS[2] scheduled set.  ARGV: id, now ms, ttl ms.
-- Returns {0, ""} for an unknown task, {1, status} when cancelling,
-- {2, status} when it is too late (running or finished).
local st = redis.call('HGET', KEYS[1], '@TGW_F_STATUS@')
if not st then return {0, ''} end
if st == '@TGW_ST_SCHEDULED@' or st == '@TGW_ST_RETRYING@' then
  if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], '@TGW_F_STATUS@', '@TGW_ST_CANCELLED@',
               '@TGW_F_FINISHED_AT@', ARGV[2],
               '@TGW_F_CANCEL_REQUESTED@', '1')
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, st}
  end
  st = '@TGW_ST_QUEUED@'
end
if st == '@TGW_ST_QUEUED@' then
  redis.call('HSET', KEYS[1], '@TGW_F_CANCEL_REQUESTED@', '1')
  return {1, st}
end
return {2, st}
