-- Record a task's outcome and only then ack and delete its entry, as one
-- script: a write that fails inside Redis (a key of another type) stops
-- it before the XACK, so the entry stays pending and the step is tried
-- again; and an entry no longer pending (the outcome of this step was
-- already written, its reply lost with the connection, or another worker
-- that reclaimed the entry finished it) is left alone, so an outcome is
-- never written twice (no second dead-letter entry, no status rolled
-- back).  A group or stream that is gone does not stop the writes, nor
-- does a stream key that holds another type now (replaced while the task
-- ran): its entries went with the stream, so there is nothing to ack, and
-- an XACK refused for ever would wedge the task.
-- ARGV: stream, group, entry id, then the writes, each as its argument
-- count followed by its arguments.
-- A write Redis would refuse for a key of another type (the dead-letter
-- stream, the scheduled set) is found before any is made
-- (lib/refused.lua): nothing is written and the error names the key.
-- Returns 1 recorded, 0 not pending any more (nothing written), 2
-- recorded but not acked: the stream key is of another type.
local p = redis.pcall('XPENDING', ARGV[1], ARGV[2], ARGV[3], ARGV[3], 1)
if type(p) == 'table' and not p.err and #p == 0 then return 0 end
local alien = type(p) == 'table' and p.err
              and string.find(p.err, 'WRONGTYPE', 1, true)
@include refused
local no = refused(4, #ARGV)
if no then return no end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
if alien then return 2 end
redis.call('XACK', ARGV[1], ARGV[2], ARGV[3])
redis.call('XDEL', ARGV[1], ARGV[3])
return 1
