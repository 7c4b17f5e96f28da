-- Record the outcomes of several finished tasks in one call: for each,
-- what record.lua does for one (its writes, then XACK and XDEL of its
-- entry; nothing at all when the entry is no longer pending).  Each task
-- stands alone: its commands run with redis.pcall, so a write that Redis
-- refuses (a key of another type, out of memory) stops that task before
-- its ack and comes back as that task's error, and the other tasks are
-- still recorded (a key of another type is found before the task's first
-- write: lib/refused.lua, as in record.lua).  Nothing here raises an error of its own for one
-- task's arguments: a malformed block is that task's error.
-- The entries of the tasks whose writes all went through are acked and
-- deleted at the end, one XACK per stream naming them all, then one
-- XTRIM MINID for those at the stream's head (see drop below)
-- (the script runs as a whole, so no other client sees a task written
-- but not acked); an entry named twice is recorded once, as if the first
-- ack had already happened.
-- Whether each entry is still pending is asked once per stream for the
-- whole call (XPENDING over the range of its entries, as take_many.lua
-- does; an entry the answer does not name is asked on its own).
-- ARGV: group, key prefix, result_ttl (ms), then one block per task:
-- stream, entry id, the number of arguments that follow in the block,
-- then the writes, each as its argument count followed by its arguments;
-- or, for a task that succeeded and has no webhook (the most common
-- record, in a short form that costs Redis fewer strings to take in):
-- stream, entry id, "s", task id, finished_at, result, result_encoding
-- ("" for none), written as the worker's plan of such an outcome does;
-- "c" instead of "s" when the task's hash held neither an error nor a
-- result_encoding field when it was taken (the take says so): nothing
-- stale to delete, so the HDEL is left out.
-- Returns one element per task, in order: 1 recorded, 0 not pending any
-- more (nothing written), 2 recorded but not acked (its stream key holds
-- another type now: as record.lua), or an error.
local g, prefix, ttl = ARGV[1], ARGV[2], ARGV[3]
local last = #ARGV
local SHORT = 4
-- the globals used per task, as locals (a global is two table lookups)
local pcall_, type = redis.pcall, type

-- The entries still pending: one XPENDING per stream (lib/pending.lua).
@include pending
-- A write refused for a key of another type, found before any is made.
@include refused
local i = 4
while i <= last do
  local s, e, m = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if m == 's' or m == 'c' then m = SHORT else m = tonumber(m) end
  if s == nil or e == nil or m == nil or m < 0 then break end
  note(s, e)
  i = i + 3 + m
end
ask_pending()

-- A succeeded task's writes (what the worker's plan writes for it:
-- outcome.h; clean: no stale error or result_encoding to delete); an
-- error of Redis is returned, the rest skipped.  The writes raise their
-- errors (redis.call) and one pcall a task catches them: cheaper than
-- looking at each write's reply.
-- A task's key is kp then its id (the key's format ends with the id):
-- one string.format for the call, not one a task.
local chan = string.format('@TGW_KEY_CHAN_DONE@', prefix)
local kp = string.format('@TGW_KEY_TASK@', prefix, '')
local call = redis.call
local function writes(id, fin, res, enc, clean)
  local key = kp .. id
  if enc == '' then
    call('HSET', key, '@TGW_F_STATUS@', '@TGW_ST_SUCCEEDED@',
         '@TGW_F_RESULT@', res, '@TGW_F_FINISHED_AT@', fin)
    if not clean then
      call('HDEL', key, '@TGW_F_ERROR@', '@TGW_F_RESULT_ENC@')
    end
  else
    call('HSET', key, '@TGW_F_STATUS@', '@TGW_ST_SUCCEEDED@',
         '@TGW_F_RESULT@', res, '@TGW_F_FINISHED_AT@', fin,
         '@TGW_F_RESULT_ENC@', enc)
    if not clean then call('HDEL', key, '@TGW_F_ERROR@') end
  end
  call('PEXPIRE', key, ttl)
  call('PUBLISH', chan, id)
end
local function succeeded(id, fin, res, enc, clean)
  local ok, w = pcall(writes, id, fin, res, enc, clean)
  if ok then return 1 end
  if type(w) == 'table' and w.err then return w end
  return {err = 'ERR ' .. tostring(w)}
end

-- no: the tasks answered so far (out's length, kept: #out costs more)
local out, no = {}, 0
local acks = {}
local order = {}
i = 4
while i <= last do
  local s, e, m = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local clean = m == 'c'
  local short = clean or m == 's'
  if short then m = SHORT else m = tonumber(m) end
  if s == nil or e == nil or m == nil or m < 0 or i + 2 + m > last then
    no = no + 1
    out[no] = {err = 'ERR bad record block'}
    break
  end
  local j, stop = i + 3, i + 2 + m
  i = stop + 1
  local r = 1
  local st = streams[s]
  if not pending(s, e) then
    r = 0
  elseif short then
    r = succeeded(ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], clean)
  else
    r = refused(j, stop) or 1
    while r == 1 and j <= stop do
      local n = tonumber(ARGV[j])
      if n == nil or n < 1 or j + n > stop then
        r = {err = 'ERR bad record write'}
        break
      end
      local w = pcall_(unpack(ARGV, j + 1, j + n))
      if type(w) == 'table' and w.err then
        r = w
        break
      end
      j = j + n + 1
    end
  end
  no = no + 1
  out[no] = r
  if r == 1 then
    local a = acks[s]
    if a == nil then
      a = {ids = {}, tasks = {}, n = 0}
      acks[s] = a
      order[#order + 1] = s
    end
    local k = a.n + 1
    a.n = k
    a.ids[k] = e
    a.tasks[k] = no
    st.seen[e] = false              -- acked below: named again, not pending
  end
end

-- An entry id as its two numbers (nil when e is no id).
local function idnum(e)
  local d = string.find(e, '-', 1, true)
  local ms = d and tonumber(string.sub(e, 1, d - 1))
  local sq = d and tonumber(string.sub(e, d + 1))
  if ms and sq and sq < 2 ^ 52 then return ms, sq end
end

-- Removes the acked entries ids of stream s.  Deleting an entry one at a
-- time walks its stream node from the node's first entry, so the entries
-- at the stream's head (the usual case: a read takes the oldest) are cut
-- by one XTRIM MINID instead: everything below both the oldest entry the
-- group still has pending and the entry after the highest of the call's
-- entries on s (noted above: acked here, or found not pending, or
-- failed and so still pending, which bounds it lower).  Every entry
-- below that was delivered to the group (a group reads in order, and
-- that highest one was delivered) and is pending no more, so it was
-- recorded and acked, and would have been deleted then.  The acked
-- entries at or above the bound (another task still pending below them)
-- are deleted one by one, as before; when the bound is above the
-- highest, there are none, and the ids are not looked at one by one.
local function drop(s, ids)
  local st = streams[s]
  if st.bad or not st.hi then return redis.pcall('XDEL', s, unpack(ids)) end
  local hms, hsq = st.hms, st.hsq
  local p = redis.pcall('XPENDING', s, g)
  if type(p) ~= 'table' or p.err then
    return redis.pcall('XDEL', s, unpack(ids))
  end
  local bms, bsq = hms, hsq + 1
  if p[1] ~= 0 and p[2] then
    local ms, sq = idnum(p[2])
    if not ms then return redis.pcall('XDEL', s, unpack(ids)) end
    if ms < bms or (ms == bms and sq < bsq) then bms, bsq = ms, sq end
  end
  local w = redis.pcall('XTRIM', s, 'MINID',
                        string.format('%.0f-%.0f', bms, bsq))
  if type(w) == 'table' and w.err then return w end
  if bms > hms or (bms == hms and bsq > hsq) then return w end
  local rest = {}
  for _, e in ipairs(ids) do
    local ms, sq = idnum(e)
    if ms > bms or (ms == bms and sq >= bsq) then rest[#rest + 1] = e end
  end
  if #rest > 0 then return redis.pcall('XDEL', s, unpack(rest)) end
  return w
end

for _, s in ipairs(order) do
  local a = acks[s]
  if streams[s].alien then
    -- nothing to ack: the entries went with the stream
    for _, k in ipairs(a.tasks) do out[k] = 2 end
  else
    local w = redis.pcall('XACK', s, g, unpack(a.ids))
    if not (type(w) == 'table' and w.err) then
      w = drop(s, a.ids)
    end
    if type(w) == 'table' and w.err then
      for _, k in ipairs(a.tasks) do
        out[k] = w
      end
    end
  end
end
return out
