-- Figures of the deployment, read in one go.
-- ARGV[1] prefix, ARGV[2] queue names and ARGV[3] worker names, each list
-- "\n"-separated (the caller found them with SCAN, outside the script, so
-- that Redis is never held for a whole keyspace walk), ARGV[4] "1" to
-- count scheduled tasks per queue (reads the queue of every scheduled
-- task: for the admin API and the CLI, not for metrics).
-- Returns { scheduled total,
--           { queue, high, normal, low, pending, dead, scheduled, ... },
--           { heartbeat JSON of each live worker, ... },
--           { counter name, sum over live workers, ... } }
-- Pending is summed over every consumer group of the queue's streams.
local prefix = ARGV[1]
local function split(s)
  local t = {}
  for w in string.gmatch(s, '[^\n]+') do t[#t + 1] = w end
  return t
end
local function pending(key)
  local g = redis.pcall('XINFO', 'GROUPS', key)
  if type(g) ~= 'table' or g.err then return 0 end
  local n = 0
  for _, grp in ipairs(g) do
    for i = 1, #grp, 2 do
      if grp[i] == 'pending' then n = n + grp[i + 1] end
    end
  end
  return n
end
local skey = prefix .. ':scheduled'
local per = {}
if ARGV[4] == '1' then
  for _, id in ipairs(redis.call('ZRANGE', skey, 0, -1)) do
    local q = redis.call('HGET', prefix .. ':task:' .. id, 'queue')
    if q then per[q] = (per[q] or 0) + 1 end
  end
end
local queues = {}
local seen = {}
for _, q in ipairs(split(ARGV[2])) do seen[q] = true end
for q in pairs(per) do seen[q] = true end
local names = {}
for q in pairs(seen) do names[#names + 1] = q end
table.sort(names)
for _, q in ipairs(names) do
  local row = { q }
  local p = 0
  for _, prio in ipairs({ 'high', 'normal', 'low' }) do
    local k = prefix .. ':q:' .. q .. ':' .. prio
    row[#row + 1] = redis.call('XLEN', k)
    p = p + pending(k)
  end
  row[#row + 1] = p
  row[#row + 1] = redis.call('XLEN', prefix .. ':dead:' .. q)
  row[#row + 1] = per[q] or 0
  for _, v in ipairs(row) do queues[#queues + 1] = v end
end
local beats, sums, order = {}, {}, {}
for _, w in ipairs(split(ARGV[3])) do
  local hb = redis.call('GET', prefix .. ':worker:' .. w)
  if hb then
    beats[#beats + 1] = hb
    local ok, j = pcall(cjson.decode, hb)
    if ok and type(j) == 'table' and type(j.counters) == 'table' then
      for name, v in pairs(j.counters) do
        if type(v) == 'number' and type(name) == 'string' then
          if not sums[name] then order[#order + 1] = name end
          sums[name] = (sums[name] or 0) + v
        end
      end
    end
  end
end
table.sort(order)
local counters = {}
for _, name in ipairs(order) do
  counters[#counters + 1] = name
  counters[#counters + 1] = sums[name]
end
return { redis.call('ZCARD', skey), queues, beats, counters }
