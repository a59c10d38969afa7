-- dead_list.lua: one slice of GET /v1/dead. Reads at most ARGV[3] dead letters of a range
-- (or the ids given) and returns those of the source whose reason holds the substring,
-- so a filtered list never holds Redis longer than one short XRANGE; the daemon chains
-- slices from the cursor. Read only. replay.lua takes the same selection arguments.
--
-- KEYS[1] dead-letter stream
-- ARGV[1] first id (inclusive)   ARGV[2] last id (inclusive; '+' or later = the stream's last)
-- ARGV[3] at most this many entries read   ARGV[4] at most this many returned
-- ARGV[5] source ('' = any)   ARGV[6] substring of the reason, plain ('' = any)
-- ARGV[7] the source of an entry that names none
-- ARGV[8] '1': with the body and the kept headers; else only the body's length
-- ARGV[9..] ids: only these (ARGV[1..3] unused)
-- Returns {cursor, last, read, n, [id, fields]...}: cursor '' when the selection was read
-- to its end, else the id of the last entry read (the next slice starts after it); last:
-- ARGV[2] held to the stream's last id, so later slices do not run into entries added
-- meanwhile.

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
            local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])[1]
            if e then table.insert(entries, e) end
        end
    end
else
    local tail = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
    if not tail then return {'', '', 0, 0} end
    if last == '+' or later(last, tail[1]) then last = tail[1] end
    entries = redis.call('XRANGE', KEYS[1], first, last, 'COUNT', tonumber(ARGV[3]))
end
local out, n, read = {'', last, 0, 0}, 0, 0
for _, e in ipairs(entries) do
    read = read + 1
    local f, source, reason = e[2], ARGV[7], ''
    for k = 1, #f, 2 do
        if f[k] == 'src' then source = f[k + 1] end
        if f[k] == 'reason' then reason = f[k + 1] end
    end
    if (ARGV[5] == '' or source == ARGV[5]) and
       (ARGV[6] == '' or string.find(reason, ARGV[6], 1, true)) then
        local fields = f
        if ARGV[8] ~= '1' then
            fields = {}
            for k = 1, #f, 2 do
                if f[k] == 'body' then
                    table.insert(fields, 'body_bytes')
                    table.insert(fields, tostring(#f[k + 1]))
                elseif string.sub(f[k], 1, 2) ~= 'h:' then
                    table.insert(fields, f[k])
                    table.insert(fields, f[k + 1])
                end
            end
        end
        table.insert(out, {e[1], fields})
        n = n + 1
        if n >= limit then
            out[1] = e[1]
            break
        end
    end
end
if n < limit and #ARGV < 9 and #entries >= tonumber(ARGV[3]) then
    out[1] = entries[#entries][1]
end
out[3], out[4] = read, n
return out
