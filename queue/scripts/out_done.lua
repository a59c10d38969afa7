-- out_done.lua: the end of one outbox message (daemon/outbox.c), in one atomic call: the
-- entry is acknowledged and deleted from jd:out, dropped from jd:out:ev, its result is
-- added to the event's "sent" list (jd:sent, shown by the journey answer: the newest 20
-- per event) and, when it failed for good, the message goes to jd:out:dead with its reason.
--
-- ARGV[1] "done" or "dead"   ARGV[2] jd:out entry id   ARGV[3] event id
-- ARGV[4] the sent record (JSON: destination, kind, result, status, at, dedup)
-- ARGV[5] reason (dead)   ARGV[6..] the entry's fields, name then value (dead)
-- Returns 1 when the entry was still pending, 0 when it had been acknowledged already.
local SENT_KEEP = 20
local DEAD_KEEP = 10000
local acked = redis.call('XACK', 'jd:out', 'out', ARGV[2])
redis.call('XDEL', 'jd:out', ARGV[2])
local event = ARGV[3]
if event ~= '' then
    local left = {}
    for e in string.gmatch(redis.call('HGET', 'jd:out:ev', event) or '', '%S+') do
        if e ~= ARGV[2] then left[#left + 1] = e end
    end
    if #left > 0 then
        redis.call('HSET', 'jd:out:ev', event, table.concat(left, ' '))
    else
        redis.call('HDEL', 'jd:out:ev', event)
    end
    -- An erased event (erase.lua) keeps no record of what was sent about it.
    if acked == 1 and redis.call('HEXISTS', 'jd:ev', event) == 1 then
        local list = cjson.decode(redis.call('HGET', 'jd:sent', event) or '[]')
        list[#list + 1] = cjson.decode(ARGV[4])
        while #list > SENT_KEEP do table.remove(list, 1) end
        redis.call('HSET', 'jd:sent', event, cjson.encode(list))
    end
end
if ARGV[1] == 'dead' and acked == 1 then
    local fields = {'entry', ARGV[2], 'reason', ARGV[5]}
    for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
    redis.call('XADD', 'jd:out:dead', 'MAXLEN', '~', DEAD_KEEP, '*', unpack(fields))
end
return acked
