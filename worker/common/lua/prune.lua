-- Delete the consumers of a group that hold no pending entry and have
-- been idle at least ARGV[2] ms (workers that stopped or died; a default
-- consumer name is host-pid, so each run leaves a new one), and ARGV[3]
-- itself when it holds none (this worker, stopping).  In one script, so
-- no entry can be delivered to a consumer between the look and the
-- delete: DELCONSUMER drops a consumer's pending entries with it.  A
-- live worker that is deleted is simply created again by its next read.
-- KEYS[1] stream.  ARGV: group, min idle ms, own name ("" for none).
-- Returns the number of consumers deleted.
local cs = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(cs) ~= 'table' or cs.err then return 0 end
local n = 0
for _, c in ipairs(cs) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and (f['idle'] >= tonumber(ARGV[2])
                            or f['name'] == ARGV[3])
  then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
