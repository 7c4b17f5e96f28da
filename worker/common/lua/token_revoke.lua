-- Deletes a run-time token by name (its hash and its name entry); the
-- change goes to the audit stream, and the token's digest to the
-- revocation channel, on which every nginx drops it from its token cache
-- at once (instead of when the cached answer expires).
-- KEYS: tokens hash, audit.  ARGV: name, key prefix, now, who.  Returns 1,
-- or 0 when there is no such name.
local d = redis.call('HGET', KEYS[1], ARGV[1])
if not d then return 0 end
redis.call('DEL', ARGV[2] .. ':token:' .. d)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '10000',
           '*', 'who', ARGV[4], 'what', 'token revoke',
           'name', ARGV[1], 'when', ARGV[3])
redis.call('PUBLISH', ARGV[2] .. '@TGW_CHAN_REVOKED@', d)
return 1
