-- report.lua: the read side of the reports (DESIGN §6, §6b), from the indexes apply.lua
-- keeps, never by scanning every journey. Reads are split in bounded calls so one report
-- cannot stall Redis for the webhooks: first the contact ids a report needs, then their
-- compact event records a batch at a time.
--
-- ARGV[1] mode:
--   "conv"  ARGV[2] from_ms ARGV[3] to_ms: contacts with a conversion at in [from, to)
--   "stage" ARGV[2] stage rank ARGV[3] from_ms ARGV[4] to_ms: contacts that entered the
--           stage in [from, to)
--   "sla"   ARGV[2] from_ms ARGV[3] to_ms: leads entered in [from, to) and contacts with
--           a conversion in it
--   "stages" ARGV[2] lowest rank ARGV[3] highest ARGV[4] from_ms ARGV[5] to_ms: the same
--           for a range of stages, distinct
--   "spend_set" ARGV[2..] (key, day start ms, value) triples: stores ad spend rows
--   "data"  ARGV[2..] contact ids: per contact {id, events} where events is one string,
--           "event id \30 at \30 record" joined by \29; a merged id answers with its
--           survivor, an erased one with nothing
--   "touches" the same, only touches and conversions (what attribution reads)
--   "entries" ARGV[2..] contact ids: one string, "id \30 e2 \30 … \30 e6" per contact
--           (stage entry times, "" when not entered) joined by \29
--   "spend" ARGV[2] from_ms ARGV[3] to_ms: spend rows dated in [from, to)
local mode = ARGV[1]

local function distinct(ids)
    local seen, out = {}, {}
    for _, id in ipairs(ids) do
        if id and not seen[id] then
            seen[id] = true
            table.insert(out, id)
        end
    end
    return out
end

if mode == 'conv' then
    local evs = redis.call('ZRANGEBYSCORE', 'jd:conv', ARGV[2], '(' .. ARGV[3])
    if #evs == 0 then return {} end
    local out = {}
    -- HMGET in slices: unpack has a stack limit.
    for i = 1, #evs, 1000 do
        local slice = {}
        for k = i, math.min(i + 999, #evs) do table.insert(slice, evs[k]) end
        for _, c in ipairs(redis.call('HMGET', 'jd:evc', unpack(slice))) do
            if c then table.insert(out, c) end
        end
    end
    return distinct(out)
elseif mode == 'stage' then
    return redis.call('ZRANGEBYSCORE', 'jd:st:' .. ARGV[2], ARGV[3], '(' .. ARGV[4])
elseif mode == 'sla' then
    -- The leads of [from, to) and the contacts with a conversion in it (revenue).
    local out = redis.call('ZRANGEBYSCORE', 'jd:st:2', ARGV[2], '(' .. ARGV[3])
    local evs = redis.call('ZRANGEBYSCORE', 'jd:conv', ARGV[2], '(' .. ARGV[3])
    for i = 1, #evs, 1000 do
        local slice = {}
        for k = i, math.min(i + 999, #evs) do table.insert(slice, evs[k]) end
        for _, c in ipairs(redis.call('HMGET', 'jd:evc', unpack(slice))) do
            if c then table.insert(out, c) end
        end
    end
    return distinct(out)
elseif mode == 'stages' then
    local out = {}
    for r = tonumber(ARGV[2]), tonumber(ARGV[3]) do
        for _, c in ipairs(redis.call('ZRANGEBYSCORE', 'jd:st:' .. r, ARGV[4], '(' .. ARGV[5])) do
            table.insert(out, c)
        end
    end
    return distinct(out)
elseif mode == 'spend_set' then
    -- ARGV[2..]: key, day start ms, value triples (idempotent per date+source+campaign)
    for i = 2, #ARGV, 3 do
        redis.call('HSET', 'jd:spend', ARGV[i], ARGV[i + 2])
        redis.call('ZADD', 'jd:spend:d', ARGV[i + 1], ARGV[i])
    end
    return (#ARGV - 1) / 3
elseif mode == 'entries' then
    -- The funnel needs only when each contact entered lead … paid (apply.lua keeps them).
    -- One string for the whole batch, "cid \30 e2 \30 … e6" joined by \29: per-contact
    -- tables cost more than the reads.
    local call, out = redis.call, {}
    for i = 2, #ARGV do
        local cid = ARGV[i]
        local e = call('HMGET', 'jd:c:' .. cid, 'e2', 'e3', 'e4', 'e5', 'e6')
        if not (e[1] or e[2] or e[3] or e[4] or e[5]) then
            -- Merged (or renamed) since the index was read: its survivor answers.
            local live = call('HGET', 'jd:alias', cid)
            if live then
                cid = live
                e = call('HMGET', 'jd:c:' .. cid, 'e2', 'e3', 'e4', 'e5', 'e6')
            end
        end
        out[i - 1] = cid .. '\30' .. (e[1] or '') .. '\30' .. (e[2] or '') .. '\30' ..
            (e[3] or '') .. '\30' .. (e[4] or '') .. '\30' .. (e[5] or '')
    end
    return table.concat(out, '\29')
elseif mode == 'data' or mode == 'touches' then
    -- "touches": attribution needs only touches and conversions (record field 4 is the
    -- touch flag; payments and refunds start with their kind).
    local only_attr = mode == 'touches'
    local out = {}
    for i = 2, #ARGV do
        local cid = ARGV[i]
        if redis.call('EXISTS', 'jd:c:' .. cid) == 0 then
            cid = redis.call('HGET', 'jd:alias', cid)
        end
        if cid and redis.call('EXISTS', 'jd:c:' .. cid) == 1 then
            -- Attribution reads only the touches and conversions apply.lua indexes apart.
            local j = redis.call('ZRANGE', 'jd:c:' .. cid .. (only_attr and ':a' or ':j'), 0, -1,
                'WITHSCORES')
            local ids = {}
            for k = 1, #j, 2 do table.insert(ids, j[k]) end
            local recs = {}
            for k = 1, #ids, 1000 do
                local slice = {}
                for m = k, math.min(k + 999, #ids) do table.insert(slice, ids[m]) end
                for _, r in ipairs(redis.call('HMGET', 'jd:evr', unpack(slice))) do
                    table.insert(recs, r or '')
                end
            end
            -- One string per contact ("id \30 at \30 record", events joined by \29): a
            -- reply element per event would cost the daemon three allocations each.
            local evs = {}
            for k = 1, #ids do
                local r = recs[k]
                local keep = r ~= ''
                if keep then
                    evs[#evs + 1] = ids[k] .. '\30' .. j[2 * k] .. '\30' .. r
                end
            end
            table.insert(out, {cid, table.concat(evs, '\29')})
        end
    end
    return out
elseif mode == 'spend' then
    local keys = redis.call('ZRANGEBYSCORE', 'jd:spend:d', ARGV[2], '(' .. ARGV[3])
    if #keys == 0 then return {} end
    local out = {}
    for i = 1, #keys, 1000 do
        local slice = {}
        for k = i, math.min(i + 999, #keys) do table.insert(slice, keys[k]) end
        local vals = redis.call('HMGET', 'jd:spend', unpack(slice))
        for k = 1, #slice do
            if vals[k] then
                table.insert(out, slice[k])
                table.insert(out, vals[k])
            end
        end
    end
    return out
end
return redis.error_reply('report.lua: unknown mode')
