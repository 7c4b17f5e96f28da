-- The claim extension of one worker: re-claim the entries it holds so
-- that no other worker's XAUTOCLAIM takes a live task, but only those
-- still pending under its own name.  An entry another worker reclaimed
-- while this one was held up (stopped, cut off from Redis past
-- claim_idle) is that worker's now: claiming it back with XCLAIM would
-- hand it back here, and both would run it.  Such an entry, and one no
-- longer pending at all (recorded by the other worker), is named in the
-- reply instead, and the worker gives its task up.
-- Whether each entry is pending, and under whom, is asked once per
-- stream (lib/pending.lua); the entries pending under this consumer get
-- XCLAIM with min idle 0 and JUSTID, one call per stream, which resets
-- their idle time without counting a delivery.  An entry whose question
-- failed (no such group any more, a key of another type, no entry id)
-- is neither claimed nor named: nobody else can claim it either.
-- ARGV: group, consumer, then (stream, entry id) pairs.
-- Returns the numbers (1-based) of the pairs that are not this
-- consumer's.
local g, me = ARGV[1], ARGV[2]
local last = #ARGV
@include pending
for i = 3, last - 1, 2 do note(ARGV[i], ARGV[i + 1]) end
ask_pending()
local lost, mine, order = {}, {}, {}
for i = 3, last - 1, 2 do
  local s, e = ARGV[i], ARGV[i + 1]
  local o = owner(s, e)
  if o == me then
    local m = mine[s]
    if m == nil then
      m = {}
      mine[s] = m
      order[#order + 1] = s
    end
    m[#m + 1] = e
  elseif o ~= true then
    lost[#lost + 1] = (i - 1) / 2
  end
end
-- one XCLAIM per stream names all of its entries (in pieces of 1000:
-- unpack puts each argument on Lua's stack)
for _, s in ipairs(order) do
  local m = mine[s]
  for j = 1, #m, 1000 do
    local a = {s, g, me, 0}
    for k = j, math.min(j + 999, #m) do a[#a + 1] = m[k] end
    a[#a + 1] = 'JUSTID'
    redis.pcall('XCLAIM', unpack(a))
  end
end
return lost
