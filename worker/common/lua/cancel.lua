-- Cancel a task, atomically; the one rule for nginx's DELETE and
-- `taskgwctl task cancel`.  Only a queued, scheduled or retrying task may
-- be cancelled.  A queued task gets cancel_requested and the worker marks
-- it cancelled instead of running it (and records its webhook event
-- then).  A scheduled or retrying task still in the schedule is taken out
-- and cancelled at once: it is terminal here, so its webhook event
-- (task.cancelled) goes into the outbox in this same script and no worker
-- can miss it.  The event is written even when the task has no
-- callback_url: a worker knows the handler's and its default webhook URL,
-- and drops the event when there is none.  The cancelled task is kept as
-- long as a finished task: the result_ttl the workers publish in KEYS[3],
-- or ARGV[3] ms when no worker has published a usable one.
-- KEYS[1] task hash, KEYS[2] schedule, KEYS[3] the workers' result_ttl,
-- KEYS[4] outbox, KEYS[5] the event hash.
-- ARGV[1] task id, ARGV[2] now (ms), ARGV[3] fallback TTL (ms), ARGV[4]
-- when not empty the only owner whose tasks the caller sees (someone
-- else's task is as unknown), ARGV[5] when not empty the queues the
-- caller may use, as ",a,b,", ARGV[6] the event id, ARGV[7] the channel
-- on which a task cancelled here is announced as finished (long polls
-- wait on it); empty or absent: none.
-- Returns {code, status}: 0 unknown task, 1 cancelling, 2 too late (the
-- task is running or finished), 3 its queue is not the caller's.
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
    local ttl = tonumber(redis.call('GET', KEYS[3]) or '')
    if not ttl or ttl < 1 or ttl ~= math.floor(ttl) then
      ttl = ARGV[3]
    end
    redis.call('HSET', KEYS[1], 'status', 'cancelled',
               'finished_at', ARGV[2], 'cancel_requested', '1')
    if t[4] and t[4] ~= '' then
      redis.call('HSET', KEYS[1], 'webhook_status', 'pending',
                 'webhook_attempts', '0')
    end
    redis.call('HSET', KEYS[5], 'task_id', ARGV[1],
               'type', 'task.cancelled', 'created_at', ARGV[2])
    redis.call('ZADD', KEYS[4], ARGV[2], ARGV[6])
    redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
    if ARGV[7] and ARGV[7] ~= '' then
      redis.call('PUBLISH', ARGV[7], ARGV[1])
    end
    return {1, s}
  end
  s = 'queued'
end
if s == 'queued' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return {1, s}
end
return {2, s}
