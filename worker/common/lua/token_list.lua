-- The run-time tokens, by name, without their digests.
-- ARGV[1] prefix.  Returns { name, role, ips, rate, queues, created_at,
-- disabled, ... } (7 strings a token; "" for a field not set).
local out = {}
local t = redis.call('HGETALL', ARGV[1] .. ':tokens')
local names = {}
local digest = {}
for i = 1, #t, 2 do names[#names + 1] = t[i]; digest[t[i]] = t[i + 1] end
table.sort(names)
for _, n in ipairs(names) do
  local f = redis.call('HMGET', ARGV[1] .. ':token:' .. digest[n],
                       'role', 'ips', 'rate', 'queues', 'created_at',
                       'disabled')
  out[#out + 1] = n
  for i = 1, 6 do out[#out + 1] = f[i] or '' end
end
return out
