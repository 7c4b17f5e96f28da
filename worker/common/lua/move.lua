-- Move due ids from the scheduled set back to their streams, atomically.
-- An id leaves the set only once its entry is in the stream: a stream
-- that refuses the XADD (a key of another type) keeps the id, tried
-- again ARGV[14] ms later, so the task is never left in neither.
-- Ids whose hash is gone, is no hash, or is finished are just removed.
-- A hash without a queue field cannot be moved anywhere: it ends dead
-- with an error saying so (never silently dropped), and its task.dead
-- webhook event goes into the outbox (a worker finds its URL, or drops
-- the event when there is none), and its id to the channel of finished
-- tasks.
-- KEYS[1] scheduled set.  ARGV: prefix, now, batch, task key format,
-- queue key format, queue field, priority field, status field, "queued",
-- stream id field, then the terminal statuses (succeeded, dead,
-- cancelled), then the retry delay, error field, finished_at field,
-- result ttl ms, outbox key, event key format (prefix, event id).
-- Returns {ids looked at, ids moved, ids kept, last error or "",
-- {ids that ended dead}}.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2],
                       'LIMIT', 0, tonumber(ARGV[3]))
local moved, kept, err, dead = 0, 0, '', {}
for _, id in ipairs(ids) do
  local tk = string.format(ARGV[4], ARGV[1], id)
  local t = redis.pcall('HMGET', tk, ARGV[6], ARGV[7], ARGV[8])
  local st = not t.err and t[3]
  if t.err or st == ARGV[11] or st == ARGV[12] or st == ARGV[13]
     or redis.call('EXISTS', tk) == 0
  then
    redis.call('ZREM', KEYS[1], id)
  elseif not t[1] or t[1] == '' then
    redis.call('HSET', tk, ARGV[8], ARGV[12], ARGV[15],
               'scheduled task has no queue field', ARGV[16], ARGV[2])
    local eid = 'msg_' .. id .. '_' .. ARGV[2]
    redis.call('HSET', string.format(ARGV[19], ARGV[1], eid),
               'task_id', id, 'type', 'task.' .. ARGV[12],
               'created_at', ARGV[2])
    redis.call('ZADD', ARGV[18], ARGV[2], eid)
    redis.call('PEXPIRE', tk, ARGV[17])
    redis.call('ZREM', KEYS[1], id)
    redis.call('PUBLISH', ARGV[1] .. '@TGW_CHAN_DONE@', id)
    dead[#dead + 1] = id
  else
    local p = t[2] or 'normal'
    local r = redis.pcall('XADD', string.format(ARGV[5], ARGV[1], t[1], p),
                          '*', ARGV[10], id)
    if type(r) == 'table' and r.err then
      redis.call('ZADD', KEYS[1], string.format('%.0f',
                 tonumber(ARGV[2]) + tonumber(ARGV[14])), id)
      kept = kept + 1
      err = r.err
    else
      redis.call('HSET', tk, ARGV[8], ARGV[9])
      redis.call('ZREM', KEYS[1], id)
      moved = moved + 1
    end
  end
end
return {#ids, moved, kept, err, dead}
