-- Enqueue, the conditional half: nginx sends it inside the MULTI/EXEC
-- right after the HSET that wrote the task hash (the payload goes there
-- straight from nginx's buffers, never through Lua), so the checks and
-- the writes below are one atomic step with that HSET.
-- In order: an idempotency key already taken answers for the request (a
-- replay of the first task, or a conflict when the body differs); a
-- stream that already holds max backlog entries refuses it; otherwise the
-- task enters its stream (or the schedule, when delayed) and the key is
-- taken for the idempotency TTL.  A request that is not stored leaves no
-- hash behind (it is deleted here), and a write that fails leaves no key
-- (the key is the last write), so a failed enqueue never blocks a retry.
-- KEYS[1] task hash, KEYS[2] the stream of the task's queue and priority,
-- KEYS[3] schedule, KEYS[4] idempotency key, '' for none.
-- ARGV[1] task id, ARGV[2] run_at in ms ('0': ready now), ARGV[3] max
-- backlog ('0': none), ARGV[4] sha256 hex of the body, ARGV[5] the key's
-- TTL in ms, ARGV[6] the task keys' prefix ("<prefix>:task:").
-- Returns {1} stored; {2, id, queue, type, priority, run_at} the task
-- first stored under the key (fields false when its hash has expired);
-- {3} the key was used with another body; {4} the stream is full.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('ERR taskgw enqueue: the task hash is missing')
end
if KEYS[4] ~= '' then
  local v = redis.call('GET', KEYS[4])
  if v then
    redis.call('DEL', KEYS[1])
    local id, sum = string.match(v, '^(%S+) (%x+)$')
    if not id or sum ~= ARGV[4] then return {3} end
    local t = redis.call('HMGET', ARGV[6] .. id,
                         'queue', 'type', 'priority', 'run_at')
    return {2, id, t[1], t[2], t[3], t[4]}
  end
end
local max = tonumber(ARGV[3])
if max > 0 and redis.call('XLEN', KEYS[2]) >= max then
  redis.call('DEL', KEYS[1])
  return {4}
end
if ARGV[2] ~= '0' then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
else
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
end
if KEYS[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[1] .. ' ' .. ARGV[4], 'PX', ARGV[5])
end
return {1}
