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

-- Whether stream id a ("<ms>" or "<ms>-<seq>") comes after b ("<ms>-<seq>").
local function later(a, b)
    local am, as = string.match(a, '^(%d+)%-?(%d*)$')
    local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
    if not am or not bm then return false end
    am, bm = tonumber(am), tonumber(bm)
    if am ~= bm then return am > bm end
    return (as == '' and math.huge or tonumber(as)) > tonumber(bs)
end
local first, last, limit = ARGV[1], ARGV[2], tonumber(ARGV[4])
local entries
if #ARGV >= 9 then
    -- An id given twice is read once (a replay must not add its entry twice).
    entries = {}
    local seen = {}
    for i = 9, #ARGV do
        if not seen[ARGV[i]] and string.match(ARGV[i], '^%d+%-%d+$') then
            seen[ARGV[i]] = true
            local e = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])[1]
            if e then table.insert(entries, e) end
        end
    end
else
    local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
    if not tail then return {'', '', 0, 0} end
    if last == '+' or later(last, tail[1]) then last = tail[1] end
    entries = redis.call('XRANGE', KEYS[2], first, last, 'COUNT', tonumber(ARGV[3]))
end
local skip = {entry = true, reason = true, deliveries = true}
local cursor, n, read = '', 0, 0
for _, e in ipairs(entries) do
    read = read + 1
    local f = e[2]
    local bytes, source, reason = 0, ARGV[7], ''
    local args = {'XADD', KEYS[1], '*'}
    for i = 1, #f, 2 do
        bytes = bytes + #f[i] + #f[i + 1]
        if f[i] == 'src' then source = f[i + 1] end
        if f[i] == 'reason' then reason = f[i + 1] end
        if not skip[f[i]] then
            table.insert(args, f[i])
            table.insert(args, f[i + 1])
        end
    end
    if (ARGV[5] == '' or source == ARGV[5]) and
       (ARGV[6] == '' or string.find(reason, ARGV[6], 1, true)) then
        if #args > 3 then redis.call(unpack(args)) end
        redis.call('XDEL', KEYS[2], e[1])
        if redis.call('LREM', ARGV[8] .. source, 1, e[1] .. ' ' .. bytes) == 1 then
            redis.call('HINCRBY', KEYS[3], source, -bytes)
        end
        n = n + 1
        if n >= limit then
            cursor = e[1]
            break
        end
    end
end
if n < limit and #ARGV < 9 and #entries >= tonumber(ARGV[3]) then
    cursor = entries[#entries][1]
end
return {cursor, last, read, n}
