-- Record the outcomes of several finished tasks in one call: for each,
-- what record.lua does for one (its writes, then XACK and XDEL of its
-- entry; nothing at all when the entry is no longer pending).  Each task
-- stands alone: its commands run with redis.pcall, so a write that Redis
-- refuses (a key of another type, out of memory) stops that task before
-- its ack and comes back as that task's error, and the other tasks are
-- still recorded.  Nothing here raises an error of its own for one
-- task's arguments: a malformed block is that task's error.
-- The entries of the tasks whose writes all went through are acked and
-- deleted at the end, one XACK and one XDEL per stream naming them all
-- (the script runs as a whole, so no other client sees a task written
-- but not acked); an entry named twice is recorded once, as if the first
-- ack had already happened.
-- Whether each entry is still pending is asked once per stream for the
-- whole call (XPENDING over the range of its entries, as take_many.lua
-- does; an entry the answer does not name is asked on its own).
-- ARGV: group, then one block per task: stream, entry id, the number of
-- arguments that follow in the block, then the writes, each as its
-- argument count followed by its arguments.
-- Returns one element per task, in order: 1 recorded, 0 not pending any
-- more (nothing written), or an error.
local g = ARGV[1]
local last = #ARGV

-- The entries still pending: one XPENDING per stream (lib/pending.lua).
@include pending
local i = 2
while i <= last do
  local s, e, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if s == nil or e == nil or m == nil or m < 0 then break end
  note(s, e)
  i = i + 3 + m
end
ask_pending()

local out = {}
local acks = {}
local order = {}
i = 2
while i <= last do
  local s, e, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if s == nil or e == nil or m == nil or m < 0 or i + 2 + m > last then
    out[#out + 1] = {err = 'ERR bad record block'}
    break
  end
  local j, stop = i + 3, i + 2 + m
  i = stop + 1
  local r = 1
  local st = streams[s]
  if st.done[e] or not pending(s, e) then
    r = 0
  else
    while j <= stop do
      local n = tonumber(ARGV[j])
      if n == nil or n < 1 or j + n > stop then
        r = {err = 'ERR bad record write'}
        break
      end
      local w = redis.pcall(unpack(ARGV, j + 1, j + n))
      if type(w) == 'table' and w.err then
        r = w
        break
      end
      j = j + n + 1
    end
  end
  out[#out + 1] = r
  if r == 1 then
    local a = acks[s]
    if a == nil then
      a = {ids = {}, tasks = {}}
      acks[s] = a
      order[#order + 1] = s
    end
    a.ids[#a.ids + 1] = e
    a.tasks[#a.tasks + 1] = #out
    st.done[e] = true
  end
end
for _, s in ipairs(order) do
  local a = acks[s]
  local w = redis.pcall('XACK', s, g, unpack(a.ids))
  if not (type(w) == 'table' and w.err) then
    w = redis.pcall('XDEL', s, unpack(a.ids))
  end
  if type(w) == 'table' and w.err then
    for _, k in ipairs(a.tasks) do
      out[k] = w
    end
  end
end
return out
