-- replay.lua: puts dead-lettered webhooks back into the raw stream after a fix (DESIGN §8:
-- poison events "can be replayed after a fix"). Each entry gets its original fields back
-- (the dead-letter bookkeeping fields are dropped) and a fresh delivery count; one that
-- still fails comes back to the dead-letter stream with its new reason. Each replayed
-- entry's bytes stop counting against its source's cap (dead.lua's accounting); an entry
-- an operator added by hand was never counted and is not uncounted.
--
-- One slice of POST /v1/dead/replay: the selection is dead_list.lua's (a range read at most
-- ARGV[3] entries at a time, or the ids given, filtered by source and reason), so one call
-- never holds Redis long; the daemon chains slices from the cursor. The range's end is
-- resolved at the first slice, so an entry this replay puts back and that fails again
-- (a new, later dead letter) is not replayed a second time by a later slice.
--
-- KEYS[1] raw stream   KEYS[2] dead-letter stream   KEYS[3] dead-letter bytes per source
-- ARGV[1] first id (inclusive)   ARGV[2] last id (inclusive; '+' or later = the stream's last)
-- ARGV[3] at most this many entries read   ARGV[4] at most this many replayed
-- ARGV[5] source ('' = any)   ARGV[6] substring of the reason, plain ('' = any)
-- ARGV[7] the source of an entry that names none
-- ARGV[8] prefix of the per-source lists of dead letters
-- ARGV[9..] ids: only these (ARGV[1..3] unused)
-- Returns {cursor, last, read, replayed}: cursor '' when the selection was read to its
-- end, else the id of the last entry read; last: ARGV[2] held to the stream's last id.

local limit = tonumber(ARGV[4])
local entries, last = dead_slice(KEYS[2])
if not entries then return {'', '', 0, 0} end
local skip = {entry = true, reason = true, deliveries = true}
local cursor, n, read = '', 0, 0
for _, e in ipairs(entries) do
    read = read + 1
    local f = e[2]
    local source, reason, bytes = dead_fields(f, ARGV[7])
    if dead_selected(source, reason) then
        local args = {'XADD', KEYS[1], '*'}
        for i = 1, #f, 2 do
            if not skip[f[i]] then
                table.insert(args, f[i])
                table.insert(args, f[i + 1])
            end
        end
        if #args > 3 then redis.call(unpack(args)) end
        dead_remove(KEYS[2], KEYS[3], ARGV[8], e[1], source, bytes)
        n = n + 1
        if n >= limit then
            cursor = e[1]
            break
        end
    end
end
return {dead_cursor(entries, n, limit, cursor), last, read, n}
