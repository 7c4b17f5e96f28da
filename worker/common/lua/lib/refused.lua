-- Whether Redis would refuse one of a record's writes for a key of
-- another type: each XADD's key must be a stream (or none), each ZADD's a
-- sorted set (or none).  Asked before any write is made, because Redis
-- does not undo the writes a script made before one of its commands
-- failed: a record refused at its dead-letter entry would leave the
-- task's status "dead" written without that entry, and a worker that
-- takes the entry again would find the task finished and ack it, so the
-- entry would never be written.  The writes are ARGV[j] to ARGV[stop],
-- each as its argument count followed by its arguments.  Returns nil, or
-- a WRONGTYPE error whose text ends with the key (the worker reads it).
-- Spliced into a script by "@include refused" (scripts/lua2h.sh).
local WANT = {XADD = 'stream', ZADD = 'zset'}
local function refused(j, stop)
  while j <= stop do
    local n = tonumber(ARGV[j])
    if n == nil or n < 2 then return nil end
    local want = WANT[ARGV[j + 1]]
    if want then
      local k = ARGV[j + 2]
      local t = redis.call('TYPE', k).ok
      if t ~= want and t ~= 'none' then
        return {err = '@TGW_ERR_REFUSED@ the key holds a ' .. t
                      .. ': ' .. k}
      end
    end
    j = j + n + 1
  end
  return nil
end
