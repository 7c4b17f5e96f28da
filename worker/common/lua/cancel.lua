-- Cancel a task (the module's DELETE and `taskgwctl task cancel` send this
-- same script).  Only a queued, scheduled or retrying task may be
-- cancelled.  A scheduled or retrying task still in the schedule is taken
-- out and cancelled at once: it is terminal here, so its webhook event
-- (task.cancelled) goes into the outbox in the same script and no worker
-- can miss it.  A queued task only gets cancel_requested; the worker that
-- reads its entry marks it cancelled instead of running it, and records
-- the event then.  An event whose task has no callback_url still goes to
-- the outbox: a worker knows the handler's and its default webhook URL,
-- and drops the event when there is none.
-- KEYS[1] task hash, KEYS[2] scheduled set, KEYS[3] outbox, KEYS[4] the
-- event hash.  ARGV: task id, now (ms), TTL of the cancelled hash (ms),
-- the only owner the caller sees ("" any), the queues the caller may use
-- as ",a,b," ("" any), the event id.
-- Returns {0, ""} unknown (or another owner's), {1, status} cancelling,
-- {2, status} too late, {3, status} a queue the caller may not use.
local t = redis.call('HMGET', KEYS[1], 'status', 'owner', 'queue',
                     'callback_url')
local s = t[1]
if not s then return {0, ''} end
if ARGV[4] ~= '' and t[2] ~= ARGV[4] then return {0, ''} end
if ARGV[5] ~= '' and
   not string.find(ARGV[5], ',' .. (t[3] or '') .. ',', 1, true)
then return {3, s} end
if s == 'scheduled' or s == 'retrying' then
  if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], 'status', 'cancelled',
               'finished_at', ARGV[2], 'cancel_requested', '1')
    if t[4] and t[4] ~= '' then
      redis.call('HSET', KEYS[1], 'webhook_status', 'pending',
                 'webhook_attempts', '0')
    end
    redis.call('HSET', KEYS[4], 'task_id', ARGV[1],
               'type', 'task.cancelled',
               'created_at', ARGV[2])
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[6])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, s}
  end
  s = 'queued'
end
if s == 'queued' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return {1, s}
end
return {2, s}
