-- Load tasks and, when nothing stands in the way, start their runs: one
-- call for the entries one read brought (or for one task alone), each
-- task judged on its own by the same rules.  The fields the worker uses
-- come back whenever there is a hash, so the worker knows the task
-- whatever the code.  A run is only started when the worker would start
-- it at once; anything it must look at first (a finished status, a
-- run_at still ahead or not a plain number, a queue field that is no
-- queue name, a type the worker holds back for its concurrency cap)
-- comes back as "loaded, not started" (2), and the worker goes on as
-- after a plain load (start.lua when it runs it).  The start itself is
-- start.lua's: the attempt is counted before the run (attempts used up:
-- not run, -3), the TTL goes (here only from a hash with finished_at:
-- lib/take.lua), status running.
-- Each task stands alone: an error on its key (a key of another type,
-- a write Redis refuses) comes back as that task's error and the other
-- tasks are taken as usual.
-- Whether each entry is still pending, and under whom, is asked once
-- per stream for the whole call (XPENDING over the range of its entries;
-- an entry the answer does not name is asked on its own).  An entry
-- pending under another consumer was reclaimed by that worker (ours was
-- cut off past claim_idle): it runs the task, so it is not taken here,
-- whatever the task's fields say (-4).
-- ARGV: group, the max attempts of a type not listed, the number n of
-- arguments that follow for the types, then n arguments in pairs: a type
-- and its max attempts, or the type and "hold" (never started here);
-- then the consumer (this worker's name in the group), then one block of
-- five per task: stream, entry, task hash key, now
-- (ms), and "again": the now of this task's start whose answer the
-- worker lost ("0": none; lib/take.lua: that start is not counted
-- twice).
-- Returns one element per task, in order: {code, attempts, the values of
-- status, cancel_requested, run_at, queue, type, priority,
-- callback_url, content_type, payload, traceparent (in that order; nil
-- when not set), then 1 when the hash holds an error or a
-- result_encoding field (left by an earlier attempt: a success deletes
-- them), nil when it holds neither} (TGW_TAKE_VALUES values) or an
-- error.  The attempts field is not among the values: the count
-- answered is the one the worker uses.  code -4 entry pending under
-- another consumer, -3 attempts used up, -2 entry not pending (-4 and
-- -2: no values), -1 hash gone, 0 cancel requested, 1 started, 2
-- loaded, not started.
@include take

-- The entries still pending: one XPENDING per stream (lib/pending.lua).
@include pending
local consumer = ARGV[first]
for i = first + 1, #ARGV - 4, 5 do
  note(ARGV[i], ARGV[i + 1])
end
ask_pending()

local out = {}
for i = first + 1, #ARGV - 4, 5 do
  local o = owner(ARGV[i], ARGV[i + 1])
  if o == consumer or o == true then
    local c, n, v = take_one(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    out[#out + 1] = n and {c, n, v} or c
  else
    out[#out + 1] = {o and -4 or -2, 0, {}}
  end
end
return out
