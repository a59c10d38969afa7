-- report.lua: the read side of attribution and ad spend (DESIGN §6), from the indexes
-- apply.lua keeps, never by scanning every journey. Reads are split in bounded calls so
-- one report cannot stall Redis for the webhooks: first the contact ids a report needs,
-- then their compact event records a batch at a time. (The funnel and the SLA read the
-- indexes with plain commands, in pages: daemon/api_reports.c.)
--
-- ARGV[1] mode:
--   "conv"  ARGV[2] from_ms ARGV[3] to_ms: contacts with a conversion at in [from, to)
--   "spend_set" ARGV[2..] (key, day start ms, value) triples: stores ad spend rows
--   "touches" ARGV[2..] contact ids: per contact {id, events} where events is one string,
--           "event id \30 at \30 record" joined by \29, only its touches and conversions
--           (what attribution reads); a merged id answers with its survivor, an erased
--           one with nothing
--   "spend" ARGV[2] from_ms ARGV[3] to_ms: spend rows dated in [from, to)
--   "names_set" ARGV[2..] ("<platform>:<id>", name) pairs: campaign names learned from
--           spend rows and events (daemon/campaigns.h); the latest name of an id stands,
--           and at most NAMES_MAX ids are kept (a new one past that is not recorded)
--   "people" ARGV[2..] contact ids (a drill-down's page, at most a few hundred): per id
--           {live id or "", email or "", name or ""}: the bytewise smallest email among
--           the contact's first PEOPLE_IDS identities, and the best name apply.lua keeps
--           per identity in jd:pn ("<v>\t<at_ms>\t<name>": verified first, then the
--           latest, then the larger text; keep_name in apply.lua)
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
elseif mode == 'spend_set' then
    -- ARGV[2..]: key, day start ms, value triples (idempotent per date+source+campaign)
    for i = 2, #ARGV, 3 do
        redis.call('HSET', 'jd:spend', ARGV[i], ARGV[i + 2])
        redis.call('ZADD', 'jd:spend:d', ARGV[i + 1], ARGV[i])
    end
    return (#ARGV - 1) / 3
elseif mode == 'names_set' then
    local NAMES_MAX = 10000 -- CAMPAIGNS_LEARN_MAX in daemon/campaigns.h
    local n = 0
    for i = 2, #ARGV - 1, 2 do
        if redis.call('HEXISTS', 'jd:campaigns', ARGV[i]) == 1 or
            redis.call('HLEN', 'jd:campaigns') < NAMES_MAX then
            redis.call('HSET', 'jd:campaigns', ARGV[i], ARGV[i + 1])
            n = n + 1
        end
    end
    return n
elseif mode == 'touches' then
    local out = {}
    for i = 2, #ARGV do
        local cid = live_contact(ARGV[i])
        if cid then
            -- Attribution reads only the touches and conversions apply.lua indexes apart.
            local j = redis.call('ZRANGE', 'jd:c:' .. cid .. ':a', 0, -1, 'WITHSCORES')
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
elseif mode == 'people' then
    -- A contact's identities are few; one with very many (a shared browser's anon ids)
    -- is read only as far as one SSCAN page, so a page of people stays cheap.
    local PEOPLE_IDS = 256
    local out = {}
    for i = 2, #ARGV do
        local cid = live_contact(ARGV[i])
        local email, name = '', ''
        if cid then
            local key = 'jd:c:' .. cid .. ':ids'
            local ids
            if redis.call('SCARD', key) <= PEOPLE_IDS then
                ids = redis.call('SMEMBERS', key)
            else
                ids = redis.call('SSCAN', key, 0, 'COUNT', PEOPLE_IDS)[2]
            end
            for _, ident in ipairs(ids) do
                local v = string.match(ident, '^email\t(.*)$')
                if v and (email == '' or str_lt(v, email)) then email = v end
            end
            local best_v, best_at = -1, -1
            for k = 1, #ids, 1000 do
                local slice = {}
                for m = k, math.min(k + 999, #ids) do table.insert(slice, ids[m]) end
                for _, n in ipairs(redis.call('HMGET', 'jd:pn', unpack(slice))) do
                    local v, at, text = false, false, nil
                    if n then v, at, text = string.match(n, '^(%d)\t(%d+)\t(.*)$') end
                    v, at = v and tonumber(v), at and tonumber(at)
                    if v and at and (v > best_v or (v == best_v and (at > best_at or
                            (at == best_at and str_lt(name, text))))) then
                        best_v, best_at, name = v, at, text
                    end
                end
            end
        end
        table.insert(out, {cid or '', email, name})
    end
    return out
end
return redis.error_reply('report.lua: unknown mode')
