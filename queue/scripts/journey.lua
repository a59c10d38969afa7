-- journey.lua: reads one contact and its journey in a single atomic step, so a reader
-- never sees half of a merge that apply.lua is doing.
--
-- ARGV[1] "identity" or "contact"   ARGV[2] "type\tvalue" or a contact id
-- ARGV[3] how many events to return at most (0: the contact alone)
-- Returns nil when unknown, else
--   {cid, stage rank, {identities...}, {conflicts...}, {merged_from...},
--    total events, first_at, last_at, "at at ...", {json, json, ...},
--    {event id, sent JSON, ...}}
-- the last one for the returned events that the outbox sent something about (jd:sent).
-- with the returned events in journey order: their at_ms (the exact scores) in one
-- string, and their stored JSON ("" when missing), which the daemon splices into its
-- answer as it is. One reply element per event instead of three (id, at, json): each costs
-- Redis a conversion and the daemon an allocation. The texts stay separate strings:
-- concatenating them here costs Redis' Lua more than the elements it saves.
-- Identities come unsorted: the daemon sorts them bytewise itself.

local cid
if ARGV[1] == 'identity' then
    cid = redis.call('HGET', 'jd:idx', ARGV[2])
    if cid and redis.call('EXISTS', 'jd:c:' .. cid) == 0 then cid = nil end
else
    cid = live_contact(ARGV[2])
end
if not cid then return nil end

local key = 'jd:c:' .. cid
local limit = tonumber(ARGV[3])
local total = redis.call('ZCARD', key .. ':j')
local j = {}
if limit > 0 and total > 0 then
    j = redis.call('ZRANGE', key .. ':j', 0, limit - 1, 'WITHSCORES')
end
local n = #j / 2
-- First and last at come from the page already read when it holds them.
local first_at, last_at = '', ''
if total > 0 then
    if n > 0 then
        first_at = j[2]
    else
        first_at = redis.call('ZRANGE', key .. ':j', 0, 0, 'WITHSCORES')[2] or ''
    end
    if n == total then
        last_at = j[#j]
    else
        last_at = redis.call('ZRANGE', key .. ':j', -1, -1, 'WITHSCORES')[2] or ''
    end
end
local ats, texts = {}, {}
-- HMGET in slices: unpack has a stack limit (a few thousand values).
for k = 1, n, 1000 do
    local slice = {}
    for m = k, math.min(k + 999, n) do slice[#slice + 1] = j[2 * m - 1] end
    local jsons = redis.call('HMGET', 'jd:ev', unpack(slice))
    for m = 1, #slice do
        local i = k + m - 1
        texts[i] = jsons[m] or ''
        ats[i] = j[2 * i]
    end
end
-- What the outbox sent about the returned events (issue 14), in the same slices.
local sent = {}
for k = 1, n, 1000 do
    local slice = {}
    for m = k, math.min(k + 999, n) do slice[#slice + 1] = j[2 * m - 1] end
    local got = redis.call('HMGET', 'jd:sent', unpack(slice))
    for m = 1, #slice do
        if got[m] then
            sent[#sent + 1] = slice[m]
            sent[#sent + 1] = got[m]
        end
    end
end
local mf = redis.call('SMEMBERS', key .. ':mf')
table.sort(mf)
return {cid, redis.call('HGET', key, 'stage') or '0', redis.call('SMEMBERS', key .. ':ids'),
    redis.call('LRANGE', key .. ':conf', 0, 99), mf, total, first_at, last_at,
    table.concat(ats, ' '), texts, sent}
