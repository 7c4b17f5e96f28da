-- The cancel rule, atomic in Redis: only a queued, scheduled or retrying
-- task may be cancelled.  A queued task gets cancel_requested and the
-- worker marks it cancelled instead of running it; a scheduled or
-- retrying task still in the scheduled set is taken out and cancelled at
-- once (its hash kept ARGV[3] ms, the worker's default result_ttl).  Used
-- by the module's DELETE and by `taskgwctl task cancel`.
-- A caller may be scoped (the module's tokens): ARGV[4], when not empty,
-- is the only owner whose tasks it sees (another owner's task is as
-- unknown); ARGV[5], when not empty, lists the queues it may use as
-- ",a,b,".
-- KEYS[1] task hash, KEYS[2] scheduled set.  ARGV: id, now ms, ttl ms,
-- owner or "", queues or "".
-- Returns {0, ""} for an unknown task, {1, status} when cancelling,
-- {2, status} when it is too late (running or finished), {3, status}
-- when the task's queue is not the caller's.
local t = redis.call('HMGET', KEYS[1], '@TGW_F_STATUS@', '@TGW_F_OWNER@',
                     '@TGW_F_QUEUE@')
local st = t[1]
if not st then return {0, ''} end
if ARGV[4] and ARGV[4] ~= '' and t[2] ~= ARGV[4] then return {0, ''} end
if ARGV[5] and ARGV[5] ~= ''
   and not string.find(ARGV[5], ',' .. (t[3] or '') .. ',', 1, true)
then
  return {3, st}
end
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
