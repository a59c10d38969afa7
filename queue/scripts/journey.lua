-- journey.lua: reads one contact and its journey in a single atomic step, so a reader
-- never sees half of a merge that apply.lua is doing.
--
-- ARGV[1] "identity" or "contact"   ARGV[2] "type\tvalue" or a contact id
-- ARGV[3] how many events to return at most (0: the contact alone)
-- Returns nil when unknown, else
--   {cid, stage rank, {identities...}, {conflicts...}, {merged_from...},
--    total events, first_at, last_at, {id, at, json, id, at, json, ...}}

local cid
if ARGV[1] == 'identity' then
    cid = redis.call('HGET', 'jd:idx', ARGV[2])
else
    cid = ARGV[2]
    if redis.call('EXISTS', 'jd:c:' .. cid) == 0 then
        cid = redis.call('HGET', 'jd:alias', cid)
    end
end
if not cid or redis.call('EXISTS', 'jd:c:' .. cid) == 0 then return nil end

local key = 'jd:c:' .. cid
local limit = tonumber(ARGV[3])
local total = redis.call('ZCARD', key .. ':j')
local first = redis.call('ZRANGE', key .. ':j', 0, 0, 'WITHSCORES')
local last = redis.call('ZRANGE', key .. ':j', -1, -1, 'WITHSCORES')
local events = {}
if limit > 0 then
    local j = redis.call('ZRANGE', key .. ':j', 0, limit - 1, 'WITHSCORES')
    local ids = {}
    for k = 1, #j, 2 do table.insert(ids, j[k]) end
    local jsons = {}
    if #ids > 0 then jsons = redis.call('HMGET', 'jd:ev', unpack(ids)) end
    for k = 1, #ids do
        table.insert(events, ids[k])
        table.insert(events, j[2 * k])
        table.insert(events, jsons[k] or '')
    end
end
local ids = redis.call('SMEMBERS', key .. ':ids')
table.sort(ids)
local mf = redis.call('SMEMBERS', key .. ':mf')
table.sort(mf)
return {cid, redis.call('HGET', key, 'stage') or '0', ids,
    redis.call('LRANGE', key .. ':conf', 0, 99), mf, total,
    first[2] or '', last[2] or '', events}
