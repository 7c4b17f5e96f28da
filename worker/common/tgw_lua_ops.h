/*
 * tgw_lua_ops: the Redis scripts of the operator's surfaces, written once
 * and included by the nginx module (metrics, admin API) and taskgwctl, so
 * that a dead task is replayed or purged by the same code whichever door
 * the operator uses.  Keys follow the schema of tgw_keys.h; each script
 * builds them from the prefix it is given.
 */

#ifndef TGW_LUA_OPS_H
#define TGW_LUA_OPS_H

/* Entries kept (about) in {prefix}:audit. */
#define TGW_AUDIT_MAXLEN  "10000"

/*
 * Figures of the deployment, read in one go.
 * ARGV[1] prefix, ARGV[2] queue names and ARGV[3] worker names, each list
 * "\n"-separated (the caller found them with SCAN, outside the script, so
 * that Redis is never held for a whole keyspace walk), ARGV[4] "1" to
 * count scheduled tasks per queue (reads the queue of every scheduled
 * task: for the admin API and the CLI, not for metrics).
 * Returns { scheduled total,
 *           { queue, high, normal, low, pending, dead, scheduled, ... },
 *           { heartbeat JSON of each live worker, ... },
 *           { counter name, sum over live workers, ... } }
 * Pending is summed over every consumer group of the queue's streams.
 */
static const char  tgw_lua_stats[] __attribute__((unused)) =
    "local prefix = ARGV[1]\n"
    "local function split(s)\n"
    "  local t = {}\n"
    "  for w in string.gmatch(s, '[^\\n]+') do t[#t + 1] = w end\n"
    "  return t\n"
    "end\n"
    "local function pending(key)\n"
    "  local g = redis.pcall('XINFO', 'GROUPS', key)\n"
    "  if type(g) ~= 'table' or g.err then return 0 end\n"
    "  local n = 0\n"
    "  for _, grp in ipairs(g) do\n"
    "    for i = 1, #grp, 2 do\n"
    "      if grp[i] == 'pending' then n = n + grp[i + 1] end\n"
    "    end\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "local skey = prefix .. ':scheduled'\n"
    "local per = {}\n"
    "if ARGV[4] == '1' then\n"
    "  for _, id in ipairs(redis.call('ZRANGE', skey, 0, -1)) do\n"
    "    local q = redis.call('HGET', prefix .. ':task:' .. id, 'queue')\n"
    "    if q then per[q] = (per[q] or 0) + 1 end\n"
    "  end\n"
    "end\n"
    "local queues = {}\n"
    "local seen = {}\n"
    "for _, q in ipairs(split(ARGV[2])) do seen[q] = true end\n"
    "for q in pairs(per) do seen[q] = true end\n"
    "local names = {}\n"
    "for q in pairs(seen) do names[#names + 1] = q end\n"
    "table.sort(names)\n"
    "for _, q in ipairs(names) do\n"
    "  local row = { q }\n"
    "  local p = 0\n"
    "  for _, prio in ipairs({ 'high', 'normal', 'low' }) do\n"
    "    local k = prefix .. ':q:' .. q .. ':' .. prio\n"
    "    row[#row + 1] = redis.call('XLEN', k)\n"
    "    p = p + pending(k)\n"
    "  end\n"
    "  row[#row + 1] = p\n"
    "  row[#row + 1] = redis.call('XLEN', prefix .. ':dead:' .. q)\n"
    "  row[#row + 1] = per[q] or 0\n"
    "  for _, v in ipairs(row) do queues[#queues + 1] = v end\n"
    "end\n"
    "local beats, sums, order = {}, {}, {}\n"
    "for _, w in ipairs(split(ARGV[3])) do\n"
    "  local hb = redis.call('GET', prefix .. ':worker:' .. w)\n"
    "  if hb then\n"
    "    beats[#beats + 1] = hb\n"
    "    local ok, j = pcall(cjson.decode, hb)\n"
    "    if ok and type(j) == 'table' and type(j.counters) == 'table' then\n"
    "      for name, v in pairs(j.counters) do\n"
    "        if type(v) == 'number' and type(name) == 'string' then\n"
    "          if not sums[name] then order[#order + 1] = name end\n"
    "          sums[name] = (sums[name] or 0) + v\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "table.sort(order)\n"
    "local counters = {}\n"
    "for _, name in ipairs(order) do\n"
    "  counters[#counters + 1] = name\n"
    "  counters[#counters + 1] = sums[name]\n"
    "end\n"
    "return { redis.call('ZCARD', skey), queues, beats, counters }\n";

/*
 * Puts a dead task back on its queue with its attempts reset: the rule of
 * "dead replay".  Only a task in the dead-letter stream of its queue is
 * replayed; its entry leaves that stream, the task becomes "queued" again
 * (attempts 0, the last run's outcome cleared, no expiry: the worker put a
 * result_ttl on it when it died), and a new entry goes on its priority's
 * stream.  The change is written to the audit stream in the same step.
 * ARGV[1] prefix, ARGV[2] task id, ARGV[3] now (unix ms), ARGV[4] who.
 * Returns { 1, queue } when replayed, { 0 } when the task is not dead.
 */
static const char  tgw_lua_dead_replay[] __attribute__((unused)) =
    "local prefix, id = ARGV[1], ARGV[2]\n"
    "local tkey = prefix .. ':task:' .. id\n"
    "local f = redis.call('HMGET', tkey, 'queue', 'priority', 'status')\n"
    "if not f[1] or f[3] ~= 'dead' then return { 0 } end\n"
    "local q, prio = f[1], f[2]\n"
    "if prio ~= 'high' and prio ~= 'low' then prio = 'normal' end\n"
    "local dkey = prefix .. ':dead:' .. q\n"
    "local found, start = false, '-'\n"
    "repeat\n"
    "  local page = redis.call('XRANGE', dkey, start, '+', 'COUNT', 500)\n"
    "  for _, e in ipairs(page) do\n"
    "    for i = 1, #e[2], 2 do\n"
    "      if e[2][i] == 'id' and e[2][i + 1] == id then\n"
    "        redis.call('XDEL', dkey, e[1])\n"
    "        found = true\n"
    "      end\n"
    "    end\n"
    "    start = '(' .. e[1]\n"
    "  end\n"
    "until #page < 500\n"
    "if not found then return { 0 } end\n"
    "redis.call('HDEL', tkey, 'error', 'result', 'result_encoding',\n"
    "           'started_at', 'finished_at', 'cancel_requested',\n"
    "           'webhook_status', 'webhook_attempts', 'webhook_last_error')\n"
    "redis.call('HSET', tkey, 'status', 'queued', 'attempts', '0')\n"
    "redis.call('PERSIST', tkey)\n"
    "redis.call('XADD', prefix .. ':q:' .. q .. ':' .. prio, '*', 'id', id)\n"
    "redis.call('XADD', prefix .. ':audit', 'MAXLEN', '~', '"
        TGW_AUDIT_MAXLEN "',\n"
    "           '*', 'who', ARGV[4], 'what', 'dead replay', 'id', id,\n"
    "           'queue', q, 'when', ARGV[3])\n"
    "return { 1, q }\n";

/*
 * Deletes a dead task for good: its entry in the dead-letter stream and
 * its hash.  The queue comes from the task's hash; when the hash has
 * already expired, from ARGV[5] if given, else every dead-letter stream
 * is searched.  Written to the audit stream in the same step.
 * ARGV[1] prefix, ARGV[2] task id, ARGV[3] now (unix ms), ARGV[4] who,
 * ARGV[5] queue or "".
 * Returns { 1, queue } when purged, { 0 } when no dead task has that id.
 */
static const char  tgw_lua_dead_purge[] __attribute__((unused)) =
    "local prefix, id = ARGV[1], ARGV[2]\n"
    "local tkey = prefix .. ':task:' .. id\n"
    "local f = redis.call('HMGET', tkey, 'queue', 'status')\n"
    "if f[1] and f[2] ~= 'dead' then return { 0 } end\n"
    "local streams = {}\n"
    "if f[1] then streams = { prefix .. ':dead:' .. f[1] }\n"
    "elseif ARGV[5] ~= '' then streams = { prefix .. ':dead:' .. ARGV[5] }\n"
    "else\n"
    "  local pat = string.gsub(prefix, '[%*%?%[%]\\\\]', '\\\\%0')\n"
    "  local cur = '0'\n"
    "  repeat\n"
    "    local r = redis.call('SCAN', cur, 'MATCH', pat .. ':dead:*',\n"
    "                         'COUNT', 1000)\n"
    "    cur = r[1]\n"
    "    for _, k in ipairs(r[2]) do streams[#streams + 1] = k end\n"
    "  until cur == '0'\n"
    "end\n"
    "local q\n"
    "for _, dkey in ipairs(streams) do\n"
    "  local start = '-'\n"
    "  repeat\n"
    "    local page = redis.call('XRANGE', dkey, start, '+', 'COUNT', 500)\n"
    "    for _, e in ipairs(page) do\n"
    "      for i = 1, #e[2], 2 do\n"
    "        if e[2][i] == 'id' and e[2][i + 1] == id then\n"
    "          redis.call('XDEL', dkey, e[1])\n"
    "          q = string.sub(dkey, #prefix + 7)\n"
    "        end\n"
    "      end\n"
    "      start = '(' .. e[1]\n"
    "    end\n"
    "  until #page < 500\n"
    "end\n"
    "if not q then return { 0 } end\n"
    "redis.call('DEL', tkey)\n"
    "redis.call('XADD', prefix .. ':audit', 'MAXLEN', '~', '"
        TGW_AUDIT_MAXLEN "',\n"
    "           '*', 'who', ARGV[4], 'what', 'dead purge', 'id', id,\n"
    "           'queue', q, 'when', ARGV[3])\n"
    "return { 1, q }\n";

#endif /* TGW_LUA_OPS_H */
