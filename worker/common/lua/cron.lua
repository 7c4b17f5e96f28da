-- Fire one cron tick once across every worker: the guard key is set only
-- by the first worker to get there; that one creates the task the way
-- the module does (hash + stream entry).  The XADD, the one step that can
-- fail (a stream key of another type), comes before any write: a failed
-- tick leaves neither a task without its entry nor a guard that would
-- stop it from being fired again.
-- KEYS[1] guard, KEYS[2] task hash, KEYS[3] stream.  ARGV: task id,
-- guard life in ms, stream id field, then the hash's field/value pairs.
-- Returns 1 fired, 0 already fired.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XADD', KEYS[3], '*', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4, #ARGV))
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
