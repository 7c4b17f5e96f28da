-- Start a run, unless the task was cancelled or vanished meanwhile, or
-- its entry is no longer pending under this worker's name (another
-- worker that reclaimed it runs it, or has recorded its outcome: the
-- task is not ours to run, and a run whose record then finds nothing
-- pending would leave it "running").
-- The attempt is counted here, before the run: a run that never records
-- an outcome (it kills the worker) still uses up an attempt, and a task
-- whose attempts are used up is not run again but ends dead.  An
-- attempts field that is no count (negative, not a number) counts as 0;
-- a huge one counts as used up.  A task that runs must not expire under
-- it: a task that finished (finished_at set: a replayed dead task, one
-- put back by hand) may still carry its result_ttl, and that TTL goes;
-- any other hash has no TTL of ours, and one set by hand stays (the
-- take's rule, lib/take.lua).
-- KEYS[1] task hash.  ARGV: cancel field, status field, "running",
-- started_at field, now, attempts field, max attempts, stream, group,
-- entry, consumer, and optionally "again": the now of the first start
-- whose answer the worker lost.  A task found running since then is
-- that start (or a later one, lost too): answered as started, not
-- counted a second time, its started_at now (lib/take.lua, the same).
-- Returns {code, attempts}: code -4 entry pending under another
-- consumer, -3 attempts used up (not run), -2 entry not pending, -1 hash
-- gone, 0 cancel requested, 1 started.
local p = redis.pcall('XPENDING', ARGV[8], ARGV[9], ARGV[10], ARGV[10], 1)
if type(p) == 'table' and not p.err then
  if #p == 0 then return {-2, 0} end
  if p[1][2] ~= ARGV[11] then return {-4, 0} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local c = redis.call('HGET', KEYS[1], ARGV[1])
if c and c ~= '' and c ~= '0' then return {0, 0} end
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[6]) or '0')
if n == nil or n ~= n or n < 0 then n = 0 end
n = math.floor(n)
if n > 1000000000 then n = 1000000000 end
if ARGV[12] and redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3]
   and (tonumber(redis.call('HGET', KEYS[1], ARGV[4])) or -1)
       >= tonumber(ARGV[12]) then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
  return {1, n}
end
if n >= tonumber(ARGV[7]) then return {-3, n} end
n = n + 1
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
           ARGV[6], string.format('%d', n))
if redis.call('HEXISTS', KEYS[1], '@TGW_F_FINISHED_AT@') == 1 then
  redis.call('PERSIST', KEYS[1])
end
return {1, n}
