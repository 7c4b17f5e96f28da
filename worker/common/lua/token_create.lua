-- Creates a run-time token: its hash and its name entry, atomically,
-- refusing a name that is taken; the change goes to the audit stream.
-- KEYS: token hash, tokens hash, audit.  ARGV: name role ips rate queues
-- created_at digest who.  Returns 1, or 0 when the name exists.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'role', ARGV[2],
           'ips', ARGV[3], 'rate', ARGV[4], 'queues', ARGV[5],
           'created_at', ARGV[6], 'disabled', '0')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[7])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000',
           '*', 'who', ARGV[8], 'what', 'token create',
           'name', ARGV[1], 'role', ARGV[2], 'when', ARGV[6])
return 1
