-- Puts a dead task back on its queue with its attempts reset: the rule of
-- "dead replay".  Only a task in the dead-letter stream of its queue is
-- replayed; its entry leaves that stream, the task becomes "queued" again
-- (attempts 0, the last run's outcome cleared, no expiry: the worker put a
-- result_ttl on it when it died), and a new entry goes on its priority's
-- stream.  The change is written to the audit stream in the same step.
-- ARGV[1] prefix, ARGV[2] task id, ARGV[3] now (unix ms), ARGV[4] who.
-- Returns { 1, queue } when replayed, { 0 } when the task is not dead.
local prefix, id = ARGV[1], ARGV[2]
local tkey = prefix .. ':task:' .. id
local f = redis.call('HMGET', tkey, 'queue', 'priority', 'status')
if not f[1] or f[3] ~= 'dead' then return { 0 } end
local q, prio = f[1], f[2]
if prio ~= 'high' and prio ~= 'low' then prio = 'normal' end
local dkey = prefix .. ':dead:' .. q
local found, start = false, '-'
repeat
  local page = redis.call('XRANGE', dkey, start, '+', 'COUNT', 500)
  for _, e in ipairs(page) do
    for i = 1, #e[2], 2 do
      if e[2][i] == 'id' and e[2][i + 1] == id then
        redis.call('XDEL', dkey, e[1])
        found = true
      end
    end
    start = '(' .. e[1]
  end
until #page < 500
if not found then return { 0 } end
redis.call('HDEL', tkey, 'error', 'result', 'result_encoding',
           'started_at', 'finished_at', 'cancel_requested',
           'webhook_status', 'webhook_attempts', 'webhook_last_error')
redis.call('HSET', tkey, 'status', 'queued', 'attempts', '0')
redis.call('PERSIST', tkey)
redis.call('XADD', prefix .. ':q:' .. q .. ':' .. prio, '*', 'id', id)
redis.call('XADD', prefix .. ':audit', 'MAXLEN', '~', '10000',
           '*', 'who', ARGV[4], 'what', 'dead replay', 'id', id,
           'queue', q, 'when', ARGV[3])
return { 1, q }
