-- Read new entries of a queue's streams for the group and take their
-- tasks in the same call: XREADGROUP of each stream in turn (never
-- blocking: a script cannot wait; the worker's blocking read when every
-- queue looked empty stays a plain XREADGROUP) until COUNT entries were
-- read, then for each entry the take of take_many.lua (same rules, same
-- answer, each task judged on its own).  The entries were delivered by
-- this very call, so they are pending: no XPENDING is asked.
-- KEYS: the streams, read in this order (a queue's priorities, high
-- first): the next one only while fewer than COUNT were read.  One call
-- for what would be a read of each, so an empty stream of higher
-- priority costs no round trip of its own (which would wait behind the
-- worker's other calls in Redis).
-- ARGV: take_many.lua's leading arguments (group, the max attempts of a
-- type not listed, n, then n arguments in pairs: type and max attempts,
-- or type and "hold"), then the consumer, COUNT, the task key's prefix
-- (the key is the prefix then the id), the longest id taken, now (ms).
-- Returns the read's error itself when it is not about the key
-- (not WRONGTYPE, not NOGROUP: READONLY from a replica, say) and nothing
-- was read before it.  Else one element per key, in order: the number of
-- entries read from it, or its read's error (NOGROUP, WRONGTYPE: as
-- XREADGROUP's; the keys after it are not read and count 0); then TGW_READ_TAKE_WIDTH (15)
-- elements per entry read, the entries of the first key first: the entry
-- id, the task id (nil when the entry has none), then the take's answer
-- flat: take_many.lua's code, attempts and its TGW_TAKE_VALUES (11)
-- values (nil when not set), or that task's error and nils.  The code is
-- nil when the id is missing, empty, too long or holds a NUL byte:
-- nothing was taken, and the worker deals with the entry as with any
-- entry it read (a bad entry: acked).  Flat, the answer costs Redis less
-- to turn into a reply than one table per task and one for its values.
@include take

local consumer, count = ARGV[first], ARGV[first + 1]
local kp, idmax, now = ARGV[first + 2], tonumber(ARGV[first + 3]),
                       ARGV[first + 4]

-- the answer's width and the take's values, as the worker counts them
local W, V = @TGW_READ_TAKE_WIDTH_TEXT@, @TGW_TAKE_VALUES_TEXT@

local nk, left = #KEYS, tonumber(count)
local out = {}
for k = 1, nk do out[k] = 0 end
-- n: the elements of out so far (a count kept here costs less than #out)
local n = nk
for k = 1, nk do
  if left <= 0 then break end
  local r = redis.pcall('XREADGROUP', 'GROUP', g, consumer, 'COUNT', left,
                        'STREAMS', KEYS[k], '>')
  if type(r) == 'table' and r.err then
    -- An error of the server rather than of this key (READONLY: a master
    -- made a replica behind the worker's back) is the call's own when
    -- nothing was read yet, as a read of one stream gives it: the worker
    -- then deals with its link, not with a stream.
    if n == nk and not find(r.err, '^WRONGTYPE') and
       not find(r.err, '^NOGROUP') then
      return r
    end
    out[k] = r
    break
  end
  local es = r and r[1][2] or {}
  out[k] = #es
  left = left - #es
  for x = 1, #es do
    local e = es[x]
    local f, id = e[2], false
    for i = 1, #f - 1, 2 do
      if f[i] == '@TGW_STREAM_FIELD_ID@' then id = f[i + 1] end
    end
    out[n + 1] = e[1]
    out[n + 2] = id
    if id and #id > 0 and #id <= idmax and not find(id, '\0', 1, true) then
      local c, a, v = take_one(kp .. id, now)
      out[n + 3] = c
      if a and c ~= -1 then
        -- HMGET's values: false, never nil, for a field not set
        out[n + 4] = a
        for j = 1, V do out[n + 4 + j] = v[j] end
      else
        out[n + 4] = a or false
        for j = 5, W do out[n + j] = false end
      end
    else
      for j = 3, W do out[n + j] = false end
    end
    n = n + W
  end
end
return out
