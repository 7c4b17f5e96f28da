-- Enqueue with checks (an Idempotency-Key, taskgw_max_backlog; a task
-- without either is a plain MULTI/EXEC of HSET and XADD): nginx's one call
-- per request, so every check and every write below is one atomic step.  The task's fields come as arguments (the
-- payload straight from nginx's buffers), and nothing is written before
-- the checks have passed.  A large payload comes apart instead: nginx
-- writes it into the task hash by an HSET just before this, in the same
-- MULTI/EXEC, so a refusal deletes the hash (for a task whose fields all
-- come here, there is none yet and the DEL costs nothing).
-- In order: an idempotency key already taken answers for the request (a
-- replay of the first task, or a conflict when the body differs); a
-- stream that already holds max backlog entries refuses it; otherwise the
-- task hash is written, the task enters its stream (or the schedule, when
-- delayed) and the key is taken for the idempotency TTL.  The key is the
-- last write, so an enqueue that fails part of the way leaves no key and
-- never blocks a retry (nginx deletes the hash of a failed enqueue).
-- KEYS[1] task hash, KEYS[2] the stream of the task's queue and priority,
-- KEYS[3] schedule, KEYS[4] idempotency key, '' for none.
-- ARGV[1] task id, ARGV[2] run_at in ms ('0': ready now), ARGV[3] max
-- backlog ('0': none), ARGV[4] sha256 hex of the body, ARGV[5] the key's
-- TTL in ms, ARGV[6] the task keys' prefix ("<prefix>:task:"), then from
-- ARGV[7] on the task hash's fields and values, in pairs.
-- Returns {1} stored; {2, id, queue, type, priority, run_at} the task
-- first stored under the key (fields false when its hash has expired);
-- {3} the key was used with another body; {4} the stream is full.
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
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
if ARGV[2] ~= '0' then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
else
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
end
if KEYS[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[1] .. ' ' .. ARGV[4], 'PX', ARGV[5])
end
return {1}
