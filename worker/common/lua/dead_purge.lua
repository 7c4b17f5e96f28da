-- Deletes a dead task for good: its entry in the dead-letter stream and
-- its hash.  The queue comes from the task's hash; when the hash has
-- already expired, from ARGV[5] if given, else every dead-letter stream
-- is searched.  Written to the audit stream in the same step.
-- ARGV[1] prefix, ARGV[2] task id, ARGV[3] now (unix ms), ARGV[4] who,
-- ARGV[5] queue or "".
-- Returns { 1, queue } when purged, { 0 } when no dead task has that id.
local prefix, id = ARGV[1], ARGV[2]
local tkey = prefix .. ':task:' .. id
local f = redis.call('HMGET', tkey, 'queue', 'status')
if f[1] and f[2] ~= 'dead' then return { 0 } end
local streams = {}
if f[1] then streams = { prefix .. ':dead:' .. f[1] }
elseif ARGV[5] ~= '' then streams = { prefix .. ':dead:' .. ARGV[5] }
else
  local pat = string.gsub(prefix, '[%*%?%[%]\\]', '\\%0')
  local cur = '0'
  repeat
    local r = redis.call('SCAN', cur, 'MATCH', pat .. ':dead:*',
                         'COUNT', 1000)
    cur = r[1]
    for _, k in ipairs(r[2]) do streams[#streams + 1] = k end
  until cur == '0'
end
local q
for _, dkey in ipairs(streams) do
  local start = '-'
  repeat
    local page = redis.call('XRANGE', dkey, start, '+', 'COUNT', 500)
    for _, e in ipairs(page) do
      for i = 1, #e[2], 2 do
        if e[2][i] == 'id' and e[2][i + 1] == id then
          redis.call('XDEL', dkey, e[1])
          q = string.sub(dkey, #prefix + 7)
        end
      end
      start = '(' .. e[1]
    end
  until #page < 500
end
if not q then return { 0 } end
redis.call('DEL', tkey)
redis.call('XADD', prefix .. ':audit', 'MAXLEN', '~', '10000',
           '*', 'who', ARGV[4], 'what', 'dead purge', 'id', id,
           'queue', q, 'when', ARGV[3])
return { 1, q }
