-- out_sla.lua: one SLA alert (issue 14 item 5), decided atomically: a lead still in
-- jd:sla:due with the score the timer read (so not answered, paid or alerted meanwhile)
-- leaves the set and one sla.breached message per destination goes to jd:out. Taking it
-- out and queueing the alert in one call is what makes the alert leave once, also across
-- a restart. The dedup key is derived from the contact and its lead time.
--
-- ARGV[1] contact id (as ZADDed)   ARGV[2] its score as read   ARGV[3] waited seconds
-- ARGV[4] destinations, comma-separated
-- Returns the number of messages queued (0: answered or alerted already).
local due = redis.call('ZSCORE', 'jd:sla:due', ARGV[1])
if not due or due ~= ARGV[2] then return 0 end
redis.call('ZREM', 'jd:sla:due', ARGV[1])
local cid = live_contact(ARGV[1])
if not cid then return 0 end
local key = 'jd:c:' .. cid
-- The lead event: the first in journey order at its lead time (one read, bounded).
local lead = redis.call('ZRANGEBYSCORE', key .. ':j', ARGV[2], ARGV[2], 'LIMIT', 0, 1)[1]
local obj = {}
if lead then obj = cjson.decode(redis.call('HGET', 'jd:ev', lead) or '{}') end
local facts = {event = lead, kind = obj.kind, at = obj.at, contact = cid,
    waited_seconds = tonumber(ARGV[3]), identities = {}}
local touch = type(obj.touch) == 'table' and obj.touch or {}
local attrs = type(obj.attributes) == 'table' and obj.attributes or {}
facts.lead_source = (type(touch.source) == 'string' and touch.source) or obj.source
facts.name = type(attrs.name) == 'string' and attrs.name or nil
-- Its email and phone: every identity up to 64, a sample beyond.
local ids
if redis.call('SCARD', key .. ':ids') <= 64 then
    ids = redis.call('SMEMBERS', key .. ':ids')
else
    ids = redis.call('SRANDMEMBER', key .. ':ids', 64)
end
table.sort(ids)
for _, k in ipairs(ids) do
    local t, v = string.match(k, '^([^\t]*)\t(.*)$')
    if t == 'email' or t == 'phone' then facts.identities[#facts.identities + 1] = {type = t, value = v} end
end
if #facts.identities == 0 then facts.identities = nil end
local f = cjson.encode(facts)
local dedup = 'msg_' .. string.sub(redis.sha1hex('sla.breached\n' .. ARGV[1] .. '\n' .. ARGV[2]), 1, 32)
local n, entries = 0, {}
for d in string.gmatch(ARGV[4], '[^,]+') do
    entries[#entries + 1] = redis.call('XADD', 'jd:out', '*', 'd', d, 'k', 'sla.breached',
        'x', dedup, 'c', cid, 'e', lead or '', 'f', f)
    n = n + 1
end
if lead and #entries > 0 then
    local had = redis.call('HGET', 'jd:out:ev', lead)
    redis.call('HSET', 'jd:out:ev', lead, (had and had .. ' ' or '') .. table.concat(entries, ' '))
end
return n
