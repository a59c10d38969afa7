-- erase.lua: GDPR erasure of one contact (DESIGN §7 DELETE /v1/contacts/<id>): its
-- identities, its journey and the events in it, its conflicts and the ids merged into it.
-- Each erased event id leaves a tombstone for ARGV[2] seconds, so a provider's later
-- redelivery of an old event cannot bring the contact back.
--
-- ARGV[1] contact id (a merged id resolves to its survivor)  ARGV[2] tombstone seconds
-- Returns nil when unknown, else {contact id, events erased, identities erased}.
local cid = live_contact(ARGV[1])
if not cid then return nil end
local key = 'jd:c:' .. cid
local events = redis.call('ZRANGE', key .. ':j', 0, -1)
for _, id in ipairs(events) do
    redis.call('HDEL', 'jd:ev', id)
    redis.call('HDEL', 'jd:evr', id)
    redis.call('HDEL', 'jd:evc', id)
    redis.call('ZREM', 'jd:conv', id)
    redis.call('SREM', 'jd:evo', id)
    redis.call('SET', 'jd:gone:' .. id, '1', 'EX', ARGV[2])
end
-- The outbox (issue 14): messages about its events not sent yet are dropped, and the
-- record of what was sent goes with the events.
for _, id in ipairs(events) do
    for e in string.gmatch(redis.call('HGET', 'jd:out:ev', id) or '', '%S+') do redis.call('XDEL', 'jd:out', e) end
    redis.call('HDEL', 'jd:out:ev', id)
    redis.call('HDEL', 'jd:sent', id)
end
redis.call('ZREM', 'jd:sla:due', cid)
local ids = redis.call('SMEMBERS', key .. ':ids')
for _, ident in ipairs(ids) do
    if redis.call('HGET', 'jd:idx', ident) == cid then redis.call('HDEL', 'jd:idx', ident) end
end
for _, m in ipairs(redis.call('SMEMBERS', key .. ':mf')) do
    redis.call('HDEL', 'jd:alias', m)
end
for s = 1, NSTAGES do redis.call('ZREM', 'jd:st:' .. s, cid) end
redis.call('DEL', key .. ':a')
redis.call('DEL', key, key .. ':ids', key .. ':j', key .. ':conf', key .. ':cp', key .. ':mf')
return {cid, #events, #ids}
