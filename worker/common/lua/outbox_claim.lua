-- Claim the due webhook events of the outbox for one worker: each one's
-- due time moves forward by the lease (the try's timeout and a margin),
-- so no other worker takes it meanwhile, and it is due again by itself
-- when the worker that claimed it dies.  Each claim gets a number (the
-- event's "claims" count): the answer of a try is written only under the
-- claim it was made under, so a late answer of an older claim changes
-- nothing.  Ids whose event hash is gone are dropped.
-- KEYS[1] outbox.  ARGV: now (ms), lease (ms), batch, prefix, event key
-- format.
-- Returns one {id, claim, task id, type, url, attempts, body, traceparent}
-- per event.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],
                       'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local due = string.format('%.0f', tonumber(ARGV[1]) + tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local ek = string.format(ARGV[5], ARGV[4], id)
  if redis.call('EXISTS', ek) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    local c = redis.call('HINCRBY', ek, 'claims', 1)
    redis.call('ZADD', KEYS[1], due, id)
    local f = redis.call('HMGET', ek, 'task_id', 'type', 'url', 'attempts',
                         'body', '@TGW_EV_TRACEPARENT@')
    out[#out + 1] = {id, tostring(c), f[1] or '', f[2] or '', f[3] or '',
                     f[4] or '0', f[5] or '', f[6] or ''}
  end
end
return out
