-- erase.lua: GDPR erasure of one contact (DESIGN §7 DELETE /v1/contacts/<id>): its
-- identities, its journey and the events in it, its conflicts and the ids merged into it,
-- and what its conflict partners hold of it. The daemon then removes its raw webhooks
-- from the queue and the dead letters (daemon/erase.c); what no scan can recognise is
-- stopped by the tombstones written here, which apply.lua checks (docs/internals.md,
-- "Erasure").
--
-- Tombstones (jd:erased, kept for good): a salted SHA-1 of each erased identity
-- ("\t" .. type .. "\t" .. value) and of each erased event id ("\n" .. id), never the
-- values themselves, each mapped to the erasure time (ms). apply.lua drops an event whose
-- id is tombstoned, or that carries a tombstoned identity and happened (at) before that
-- identity's erasure: retries, replays and reconciliation of the person's old events stay
-- out for ever, while a new event of the same person (they sign up again) is applied.
-- The salt (jd:salt) is random per install (the daemon's CSPRNG), set once; Redis's Lua
-- offers SHA-1 only: what keeps a tombstone from being read back is the salt, not the
-- hash's collision resistance.
--
-- Conflict partners (contacts with a conflict record naming this one, :cp): every record
-- that names the erased contact's events or identities leaves the partner's :conf, the
-- erased ids leave its :cp, and the event a record was about, when the partner holds it,
-- loses the erased identities from its stored JSON (else a later re-stitch of the partner
-- would give it the erased person's email).
--
-- ARGV[1] contact id (a merged id resolves to its survivor)  ARGV[2] erasure time, Unix ms
-- ARGV[3] a fresh random salt (used only when the install has none yet)
-- Returns nil when unknown, else {contact id, events erased, identities erased, conflict
-- records scrubbed from partners, {"type\tvalue", ...} the erased identities (for the
-- daemon's queue scan; never stored), the raw stream's last entry id at the erasure ("0"
-- when empty): entries after it are applied with the tombstones in place}.
local cid = live_contact(ARGV[1])
if not cid then return nil end
local now = tonumber(ARGV[2])
redis.call('SET', 'jd:salt', ARGV[3], 'NX')
local salt = redis.call('GET', 'jd:salt')
local key = 'jd:c:' .. cid

-- Tombstone, keeping the latest erasure time when the person was erased before.
local function tombstone(text)
    local h = redis.sha1hex(salt .. text)
    local cur = redis.call('HGET', 'jd:erased', h)
    if not cur or tonumber(cur) < now then redis.call('HSET', 'jd:erased', h, ARGV[2]) end
end

local events = redis.call('ZRANGE', key .. ':j', 0, -1)
local erased_ev = {}
for _, id in ipairs(events) do
    erased_ev[id] = true
    redis.call('HDEL', 'jd:ev', id)
    redis.call('HDEL', 'jd:evr', id)
    redis.call('HDEL', 'jd:evc', id)
    redis.call('ZREM', 'jd:conv', id)
    redis.call('SREM', 'jd:evo', id)
    tombstone('\n' .. id)
end
-- The outbox (issue 14): messages about its events not sent yet are dropped, and the
-- record of what was sent goes with the events.
for _, id in ipairs(events) do
    for e in string.gmatch(redis.call('HGET', 'jd:out:ev', id) or '', '%S+') do redis.call('XDEL', 'jd:out', e) end
    redis.call('HDEL', 'jd:out:ev', id)
    redis.call('HDEL', 'jd:sent', id)
end
redis.call('ZREM', 'jd:sla:due', cid)
-- Its SLA index entry (apply.lua's SLA block) goes with the journey.
redis.call('HDEL', 'jd:sla:f', cid)
local ids = redis.call('SMEMBERS', key .. ':ids')
-- What a conflict record may hold of an identity: its value (unique types) or
-- "type:value" (open_door links).
local values = {}
local idents = {}
for _, ident in ipairs(ids) do
    if redis.call('HGET', 'jd:idx', ident) == cid then redis.call('HDEL', 'jd:idx', ident) end
    tombstone('\t' .. ident)
    local t, v = string.match(ident, '^([^\t]*)\t(.*)$')
    if t then
        values[v] = true
        values[t .. ':' .. v] = true
        table.insert(idents, {t, v})
    end
    redis.call('HDEL', 'jd:pn', ident)
end

-- The erased contact's own ids: itself and every id merged into it.
local own = {cid}
for _, m in ipairs(redis.call('SMEMBERS', key .. ':mf')) do table.insert(own, m) end

local mine = {}
for _, rec in ipairs(redis.call('LRANGE', key .. ':conf', 0, -1)) do mine[rec] = true end

-- A conflict record of a partner that names the erased contact.
local function involves(rec)
    if mine[rec] then return true end
    local ok, o = pcall(cjson.decode, rec)
    if not ok or type(o) ~= 'table' then return false end
    if type(o.event) == 'string' and erased_ev[o.event] then return true end
    if type(o.values) == 'table' then
        for _, v in ipairs(o.values) do
            if type(v) == 'string' and values[v] then return true end
        end
    end
    return false
end

-- A string as cJSON prints it (connectors/canon.c writes the stored events with cJSON).
local function json_string(s)
    return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
        local named = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
            ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
        return named[c] or string.format('\\u%04x', string.byte(c))
    end) .. '"'
end

-- Removes the erased identities from one stored event's "identities" array.
local function redact_event(id)
    local json = redis.call('HGET', 'jd:ev', id)
    if not json then return end
    local changed = false
    for _, tv in ipairs(idents) do
        local obj = '{"type":' .. json_string(tv[1]) .. ',"value":' .. json_string(tv[2]) .. '}'
        local s, e = string.find(json, obj, 1, true)
        if s then
            if string.sub(json, s - 1, s - 1) == ',' then
                s = s - 1
            elseif string.sub(json, e + 1, e + 1) == ',' then
                e = e + 1
            end
            json = string.sub(json, 1, s - 1) .. string.sub(json, e + 1)
            changed = true
        end
    end
    if changed then redis.call('HSET', 'jd:ev', id, json) end
end

local scrubbed = 0
local done = {[cid] = true}
for _, p in ipairs(redis.call('SMEMBERS', key .. ':cp')) do
    local live = live_contact(p)
    if live and not done[live] then
        done[live] = true
        local pkey = 'jd:c:' .. live
        local keep, redact = {}, {}
        for _, rec in ipairs(redis.call('LRANGE', pkey .. ':conf', 0, -1)) do
            if involves(rec) then
                scrubbed = scrubbed + 1
                local ok, o = pcall(cjson.decode, rec)
                if ok and type(o) == 'table' and type(o.event) == 'string' and not erased_ev[o.event] then
                    redact[o.event] = true
                end
            else
                table.insert(keep, rec)
            end
        end
        redis.call('DEL', pkey .. ':conf')
        for i = 1, #keep, 1000 do
            redis.call('RPUSH', pkey .. ':conf', unpack(keep, i, math.min(i + 999, #keep)))
        end
        for i = 1, #own, 1000 do
            redis.call('SREM', pkey .. ':cp', unpack(own, i, math.min(i + 999, #own)))
        end
        for ev, _ in pairs(redact) do redact_event(ev) end
    end
end

for _, m in ipairs(own) do
    if m ~= cid then redis.call('HDEL', 'jd:alias', m) end
end
for s = 1, NSTAGES do redis.call('ZREM', 'jd:st:' .. s, cid) end
redis.call('DEL', key .. ':a')
redis.call('DEL', key, key .. ':ids', key .. ':j', key .. ':conf', key .. ':cp', key .. ':mf')
local last = redis.call('XREVRANGE', 'jd:raw', '+', '-', 'COUNT', 1)
return {cid, #events, #ids, scrubbed, ids, #last > 0 and last[1][1] or '0'}
