-- The take of one task (take_many.lua, read_take.lua): loads the fields
-- the worker uses and, when nothing stands in the way, starts the run
-- (the codes and the answer: take_many.lua's head comment).  take_one
-- runs it protected, so that an error on the task's key (a key of
-- another type, a write Redis refuses) is that task's answer alone.
-- Spliced into a script by "@include take", before anything of the
-- script that uses what it defines.  Both scripts start their ARGV with
-- the same head, read here: the group (g), the max attempts of a type
-- not listed (dmax), the number n of arguments that follow for the
-- types, then n arguments in pairs: a type and its max attempts, or the
-- type and "hold" (rules: type -> max attempts or "hold").  first is
-- the index of the script's own arguments after that head.
local g = ARGV[1]
local dmax = tonumber(ARGV[2])
local first = 4 + tonumber(ARGV[3])
local rules = {}
for i = 4, first - 2, 2 do
  rules[ARGV[i]] = ARGV[i + 1]
end

-- What a take does for every task, made cheap for Redis: the globals it
-- calls are locals (a global is two table lookups a use), and what it
-- works out from a value that many tasks of a call share is kept for the
-- call: a queue name found valid (qok), an attempts field as the count
-- it stands for (attn) and the next count as text (atts); a string to
-- number and back costs a C library call each way.
local call, find, match = redis.call, string.find, string.match
local format, tonumber = string.format, tonumber
local qok, attn, atts = {}, {}, {}

-- again: the now of the first start of this task whose answer the
-- worker lost (nil, or "0": none).  A task found running since then
-- (started_at at or after it) is that start or a later one of this
-- worker's, sent again and lost too: another worker that started it
-- would hold its entry, and the entry is pending under this worker's
-- name.  It is answered as started, attempts as they are, not counted a
-- second time; its started_at becomes now: it runs from now on, not
-- from the lost try.
local function take_task(key, now, again)
  local v = call('HMGET', key, '@TGW_F_STATUS@',
                 '@TGW_F_CANCEL_REQUESTED@', '@TGW_F_RUN_AT@',
                 '@TGW_F_QUEUE@', '@TGW_F_TYPE@', '@TGW_F_PRIORITY@',
                 '@TGW_F_CALLBACK_URL@', '@TGW_F_CONTENT_TYPE@',
                 '@TGW_F_PAYLOAD@', '@TGW_F_TRACEPARENT@',
                 '@TGW_F_ERROR@', '@TGW_F_RESULT_ENC@',
                 '@TGW_F_FINISHED_AT@', '@TGW_F_ATTEMPTS@')
  -- The answer's values are the first TGW_TAKE_VALUES: the last of them
  -- says whether an earlier attempt left an error or a result_encoding
  -- that a success must delete (1), not the fields; finished_at and
  -- attempts are the script's own (the worker has the count the take
  -- answers, not the field).
  local finished, a = v[13], v[14] or '0'
  v[11] = (v[11] or v[12]) and 1 or false
  v[12] = nil                       -- (the table's answer ends here)
  if not v[1] and not v[5] and call('EXISTS', key) == 0 then
    return -1, 0, {}
  end
  local c = v[2]
  if c and c ~= '' and c ~= '0' then return 0, 0, v end
  local st = v[1]
  if st == '@TGW_ST_SUCCEEDED@' or st == '@TGW_ST_DEAD@'
     or st == '@TGW_ST_CANCELLED@' then
    return 2, 0, v
  end
  local r = v[3]
  if r and r ~= '' and (not match(r, '^%d+$') or #r > 15
                        or tonumber(r) > tonumber(now) + 50) then
    return 2, 0, v
  end
  local q = v[4]
  if q and not qok[q] then
    if #q == 0 or #q > 64 or find(q, '[^A-Za-z0-9._-]') then
      return 2, 0, v
    end
    qok[q] = true
  end
  local max = dmax
  local rule = v[5] and rules[v[5]]
  if rule == 'hold' then return 2, 0, v end
  if rule then max = tonumber(rule) end
  local n = attn[a]
  if not n then
    n = tonumber(a)
    if n == nil or n ~= n or n < 0 then n = 0 end
    n = math.floor(n)
    if n > 1000000000 then n = 1000000000 end
    attn[a], atts[a] = n, format('%d', n + 1)
  end
  if st == '@TGW_ST_RUNNING@' and again and again ~= '0'
     and (tonumber(call('HGET', key, '@TGW_F_STARTED_AT@')) or -1)
         >= tonumber(again) then
    call('HSET', key, '@TGW_F_STARTED_AT@', now)
    return 1, n, v
  end
  if n >= max then return -3, n, v end
  call('HSET', key, '@TGW_F_STATUS@', '@TGW_ST_RUNNING@',
       '@TGW_F_STARTED_AT@', now, '@TGW_F_ATTEMPTS@', atts[a])
  -- A task that runs must not expire under it.  Only a task that
  -- finished carries a TTL (its result_ttl, set with finished_at by the
  -- record, a cancel, the scheduler's dead end), and the way back to a
  -- run (dead replay) removes both; a hash with finished_at (a task an
  -- operator put back by hand) has its TTL removed here.
  if finished then call('PERSIST', key) end
  return 1, n + 1, v
end

-- Three values: the code, attempts and the values (take_many.lua's
-- answer for the task, unwrapped: no table to build per task), or the
-- task's error alone.
local function take_one(key, now, again)
  local ok, c, n, v = pcall(take_task, key, now, again)
  if ok or (type(c) == 'table' and c.err) then return c, n, v end
  c = tostring(c)
  if not match(c, '^[A-Z]+ ') then c = 'ERR ' .. c end
  return {err = c}
end
