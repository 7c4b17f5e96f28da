-- Whether the entries of a call are still pending in group g, with one
-- XPENDING per stream over the range of the call's entries: note(s, e)
-- each entry, then ask_pending(), then pending(s, e) for each, or
-- owner(s, e): the consumer it is pending under (false: not pending;
-- true: not known, the question failed).  An entry the range answer
-- does not name (not pending, or the answer was cut off) is asked on
-- its own, so the answer is never wrong, only dearer.
-- Ids are ordered as the numbers they are (ms-seq; a sequence past 2^53
-- may be misplaced, which costs its entries their own ask).  A stream's
-- lo and hi (with lms, lsq, hms, hsq: their numbers) are its lowest and
-- highest entry of the call; bad is set when an entry id is not two
-- numbers (or its sequence is past 2^52).  A stream's seen holds the
-- consumer of each entry the range answer named; a script that acks
-- entries sets an acked one false (record_many.lua: pending() then
-- answers no for it without asking, and no key is added a task).
-- A stream key of another type (replaced while its tasks ran) sets its
-- alien: its entries went with it, so each counts as pending (its
-- outcome is written) and none is acked.
-- Spliced into a script by "@include pending" (scripts/lua2h.sh); the
-- script defines g before it.
local streams, sorder = {}, {}
-- an id's two parts in one library call (not a find and two subs)
local idparts, num = string.match, tonumber
local function note(s, e)
  local st = streams[s]
  if st == nil then
    st = {n = 0, seen = {}}
    streams[s] = st
    sorder[#sorder + 1] = s
  end
  st.n = st.n + 1
  local a, b = idparts(e, '^(%d+)%-(%d+)$')
  local ms, sq = num(a), num(b)
  if not (ms and sq and sq < 2 ^ 52) then st.bad = true end
  if ms and sq then
    if not st.lo or ms < st.lms or (ms == st.lms and sq < st.lsq) then
      st.lo, st.lms, st.lsq = e, ms, sq
    end
    if not st.hi or ms > st.hms or (ms == st.hms and sq > st.hsq) then
      st.hi, st.hms, st.hsq = e, ms, sq
    end
  end
end
local function ask_pending()
  for _, s in ipairs(sorder) do
    local st = streams[s]
    local p = st.lo and redis.pcall('XPENDING', s, g, st.lo, st.hi,
                                    2 * st.n + 64)
    if type(p) == 'table' and not p.err then
      for _, x in ipairs(p) do st.seen[x[1]] = x[2] end
    elseif type(p) == 'table'
           and string.find(p.err, 'WRONGTYPE', 1, true) then
      st.alien = true
    end
  end
end
local function owner(s, e)
  local o = streams[s].seen[e]
  if o ~= nil then return o end
  if streams[s].alien then return true end
  local q = redis.pcall('XPENDING', s, g, e, e, 1)
  if type(q) ~= 'table' or q.err then return true end
  return #q > 0 and q[1][2]
end
local function pending(s, e)
  return owner(s, e) ~= false
end
