-- dead_list.lua: one slice of GET /v1/dead. Reads at most ARGV[3] dead letters of a range
-- (or the ids given) and returns those of the source whose reason holds the substring,
-- so a filtered list never holds Redis longer than one short XRANGE; the daemon chains
-- slices from the cursor. Read only. replay.lua takes the same selection arguments (the
-- selection, the filter and the cursor are the prelude's dead_* functions).
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

local limit = tonumber(ARGV[4])
local entries, last = dead_slice(KEYS[1])
if not entries then return {'', '', 0, 0} end
local out, n, read = {'', last, 0, 0}, 0, 0
for _, e in ipairs(entries) do
    read = read + 1
    local f = e[2]
    local source, reason = dead_fields(f, ARGV[7])
    if dead_selected(source, reason) then
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
out[1] = dead_cursor(entries, n, limit, out[1])
out[3], out[4] = read, n
return out
