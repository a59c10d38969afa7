-- apply.lua: applies the canonical events of one raw webhook atomically (DESIGN §3-§5).
--
-- Deduplicates on the event id, resolves identities to contacts, merges contacts
-- (connected components, with merge protection for unique identity types), appends each
-- event to its contact's journey ordered by (at, id), raises the contact's stage, then
-- acknowledges and deletes the raw stream entry. Everything happens in one script call,
-- so no reader ever sees half a merge and a crash before the call changes nothing.
--
-- KEYS[1] raw stream
-- ARGV[1] consumer group   ARGV[2] raw stream entry id ("" for none)
-- ARGV[3] unique identity types, comma-separated   ARGV[4] number of events
-- then per event: id, at_ms, stage rank, flags (1: a payment or refund with an amount,
-- 2: a touch, 4: it came through an open door, 8: a person's name follows; added),
-- identity count, (type, value) pairs, the name (flag 8), JSON, report record
--
-- The keys it writes: the jd: key layout at the top of prelude.lua.
--
-- Contact ids are derived from the contact's first event in journey order, so any
-- arrival order of the same deliveries yields the same ids (DESIGN §4, order independence).
--
-- Open doors (DESIGN §2b: the click tracker, auth = origin forms). Anyone can send
-- anything through them, so what they say about who is who is weaker than a signature:
--   * A contact is "verified" (field v = 1 on jd:c:<cid>) once an event from a verified
--     door that carries a non-anonymous identity (anything but anon and click ids) is
--     placed in it. Merges, renames and re-stitches keep it: merges copy it, renames move
--     the hash, re-stitches place the same events again and so set it again.
--   * An open-door event joins the contacts it touches as any event does, except that it
--     never joins two verified contacts: it goes to the earliest of them (journey order
--     of their first events), the others keep their identities and both sides record an
--     "open_door" conflict {event, type, values: the "type:value" identities that linked}.
--   * An open-door event never re-stitches: it is placed online, whatever conflicts the
--     contacts it touches have. Its ids go to jd:evo, so a later re-stitch replays it by
--     the same rule, and the contact's field o keeps the latest at of its open-door
--     events: a verified event that makes a contact verified and comes before that in
--     journey order re-stitches it (in order, the open-door event would have met a
--     verified contact), so the rule holds whatever order the two doors arrive in.
--
-- Re-stitching (DESIGN §4: when a late event changes who held an identity first, the
-- contacts involved are rebuilt by replaying their events in journey order) is bounded,
-- because it runs inside Redis's one thread:
--   * An event later in journey order than every event the involved contacts hold cannot
--     change who held what first: in-order replay would place it last, on the state we
--     already have. It is placed online (O(identities), not O(journey)). Events arriving
--     in order (the usual case, and every batch of a live source) never re-stitch.
--   * What remains is capped per call: RESTITCH_BUDGET events re-placed in all, over all
--     the events of the call (a batch of late events cannot multiply it). A re-stitch that
--     would exceed the remaining budget is not started; the event is placed online, and
--     the call reports it (its reply's sixth element) for journeyd_restitches_skipped_total.
--     Online placement of a late event can differ from in-order arrival only when that
--     event carries identities that change which contact held an identity first.
-- Events re-placed by re-stitches in one call, in all (see the header). A re-placed event
-- costs about 30 us of Redis time (its JSON decoded, its identities and journey written
-- again), so the budget is about 6 ms; a batch of 250 late events on a conflicted contact
-- costs about 13 ms besides (online placement), and the slowest call of
-- tests/integration/test_restitch_bound.c measures about 20 ms: far below the 50 ms
-- slow-log line, where the old unbounded re-stitch took seconds.
local RESTITCH_BUDGET = 200
local RESTITCH_MAX_CONTACTS = 200
local restitch_budget = RESTITCH_BUDGET

-- Identity types that name a browser or an ad click, not a person: an open door may
-- attach them, and a contact holding only these is anonymous (DESIGN §2b).
local ANON_TYPES = {anon = true, gclid = true, gbraid = true, wbraid = true, fbclid = true,
    msclkid = true, li_fat_id = true, ttclid = true}

-- Built once: Lua prints a number with sprintf each time it is concatenated.
local ST_KEY, E_FIELD = {}, {}
for st = 1, NSTAGES do
    ST_KEY[st] = 'jd:st:' .. st
    E_FIELD[st] = 'e' .. st
end

local unique = {}
for t in string.gmatch(ARGV[3], '[^,%s]+') do unique[t] = true end

local stats = {applied = 0, duplicates = 0, merges = 0, conflicts = 0, restitched = 0, unordered = 0}

-- Journey order (at, id).
local function ev_lt(at1, id1, at2, id2)
    if at1 ~= at2 then return at1 < at2 end
    return str_lt(id1, id2)
end

local function ckey(cid, suffix)
    if suffix then return 'jd:c:' .. cid .. ':' .. suffix end
    return 'jd:c:' .. cid
end

-- ---- The SLA index (jd:sla:f): per lead, what the SLA scorecard reads of it ----
-- "<lead at>\t<marketing 0|1>\t<qualified 0|1>\t<w|r|s>\t<response at>\t<first touch
-- at>\t<owner>": the lead entry (the first event at stage lead or higher, journey order)
-- and whether it is a marketing event, whether the contact entered qualified (field e3,
-- as jd:st:3), then what first followed the entry (r: a sales response, with its at and
-- owner; s: a payment, self-served, with its at; w: nothing yet), and the at of the
-- contact's first touch ("" for none). reports/sla.c's rules (is_sales_response,
-- is_marketing) read from the compact records (connectors/record.c), so
-- daemon/report_sla.c counts such a lead without reading its journey.
-- Kept right whatever the delivery order: an event placed in a contact it joins alone
-- (place_simple) updates the entry from the event itself where that is plain (SLA.placed);
-- every other change of a contact (an event placed at or before its lead entry, either
-- side of a merge, a rename, a re-stitch, a deletion) notes it, and at the end of the call
-- a noted contact's entry is computed again from its journey, or deleted. A lead whose
-- walk is longer than SLA.WALK events (no response in sight) or whose first touch lies
-- beyond SLA.TOUCHES members gets no entry there: the reader then reads its journey as
-- before. erase.lua and retention.lua delete the entries of the contacts they change.
-- One local table: the main chunk's locals are few.
local SLA = {WALK = 64, TOUCHES = 8, dirty = {}, list = {},
    RESPONSE = {sales_touch = true, meeting = true, stage_change = true, deal_won = true,
        deal_lost = true},
    CRM = {hubspot = true, pipedrive = true, salesforce = true},
    MARKETING = {lead = true, form = true, custom = true, click = true, visit = true}}

function SLA.note(cid)
    if cid and not SLA.dirty[cid] then
        SLA.dirty[cid] = true
        SLA.list[#SLA.list + 1] = cid
    end
end

-- A compact record's kind, stage, type and touch (fields 1-4, as cx_record_decode reads
-- them: strtol of the stage, touch when its text starts with 1), in one match.
function SLA.record(rec)
    local kind, st, typ, touch = string.match(rec, '^([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?(.?)')
    st = tonumber(string.match(st or '', '^%s*([+-]?%d+)') or '0') or 0
    return kind or '', st, typ or '', touch == '1'
end

-- Its owner (field 14: records written before it have none).
SLA.OWNER = '^' .. string.rep('[^\31]*\31', 13) .. '([^\31]*)'
function SLA.owner(rec)
    return string.match(rec, SLA.OWNER) or ''
end

-- The index entry of a live contact, or nil (not a lead, or too long to decide here).
function SLA.compute(cid)
    local e = redis.call('HMGET', 'jd:c:' .. cid, 'e2', 'e3')
    local e2 = e[1]
    if not e2 then return nil end
    local page = redis.call('ZRANGEBYSCORE', 'jd:c:' .. cid .. ':j', e2, '+inf', 'WITHSCORES',
        'LIMIT', 0, SLA.WALK)
    if #page == 0 then return nil end
    local ids = {}
    for k = 1, #page, 2 do ids[#ids + 1] = page[k] end
    local recs = redis.call('HMGET', 'jd:evr', unpack(ids))
    local lead_at, marketing, status, resp_at, owner = nil, '0', nil, '', ''
    for k = 1, #ids do
        if recs[k] then
            local kind, st, typ = SLA.record(recs[k])
            if not lead_at then
                if st >= STAGE_RANK['lead'] then
                    lead_at = page[2 * k]
                    marketing = (not SLA.CRM[typ] and SLA.MARKETING[kind]) and '1' or '0'
                end
            elseif SLA.RESPONSE[kind] or SLA.CRM[typ] then
                status, resp_at, owner = 'r', page[2 * k], SLA.owner(recs[k])
                break
            elseif kind == 'payment' then
                status, resp_at = 's', page[2 * k]
                break
            end
        end
    end
    if not lead_at then return nil end
    if not status then
        if #ids >= SLA.WALK then return nil end
        status = 'w'
    end
    local a = redis.call('ZRANGE', 'jd:c:' .. cid .. ':a', 0, SLA.TOUCHES - 1, 'WITHSCORES')
    local touch = ''
    if #a > 0 then
        local aids = {}
        for k = 1, #a, 2 do aids[#aids + 1] = a[k] end
        local arecs = redis.call('HMGET', 'jd:evr', unpack(aids))
        for k = 1, #aids do
            if arecs[k] and select(4, SLA.record(arecs[k])) then
                touch = a[2 * k]
                break
            end
        end
        if touch == '' and #aids >= SLA.TOUCHES then return nil end
    end
    return table.concat({lead_at, marketing, e[2] and '1' or '0', status, resp_at, touch, owner},
        '\t')
end

-- An event place_simple put in a contact it did not merge (a rename notes the contact
-- anyway). Most events change a lead's entry in a way the event alone tells, or not at
-- all: one after the response, one between the lead entry and the response (it may be
-- the new response), a touch or a stage before the entry. An event at or before the lead
-- entry that could be a lead entry itself, or at the very time of the response, or a lead
-- without an entry, wait for the full recomputation at the end of the call. e2_before is
-- the contact's lead entry before the event (nil: none).
function SLA.placed(cid, ev, e2_before)
    if SLA.dirty[cid] then return end
    local lead = STAGE_RANK['lead']
    if not e2_before then
        -- Not a lead so far (the entry is read from e2 on): a lead now if this is its entry.
        if ev.stage >= lead then SLA.note(cid) end
        return
    end
    local kind, st, typ, touch = SLA.record(ev.rec or '')
    local response = SLA.RESPONSE[kind] or SLA.CRM[typ]
    -- Below lead, no touch, no response, no payment: it changes no entry (read none).
    if st < lead and ev.stage < lead and not (touch and ev.attr) and not response and
        kind ~= 'payment' then
        return
    end
    local cur = redis.call('HGET', 'jd:sla:f', cid)
    local f, i = {}, 0
    for field in string.gmatch((cur or '') .. '\t', '([^\t]*)\t') do
        i = i + 1
        f[i] = field
    end
    local lead_at, resp_at = tonumber(f[1] or ''), tonumber(f[5] or '')
    if i ~= 7 or not lead_at or (f[4] ~= 'w' and not resp_at) then
        SLA.note(cid)
        return
    end
    if ev.at <= lead_at then
        if ev.at == lead_at or st >= lead or ev.stage >= lead then
            SLA.note(cid)
            return
        end
    elseif f[4] == 'w' or ev.at < resp_at then
        if response then
            f[4], f[5], f[7] = 'r', ev.at_s, SLA.owner(ev.rec)
        elseif kind == 'payment' then
            f[4], f[5], f[7] = 's', ev.at_s, ''
        end
    elseif ev.at == resp_at then
        SLA.note(cid)
        return
    end
    if ev.stage >= STAGE_RANK['qualified'] then f[3] = '1' end
    if touch and ev.attr and (f[6] == '' or ev.at < tonumber(f[6])) then f[6] = ev.at_s end
    local new = table.concat(f, '\t')
    if new ~= cur then redis.call('HSET', 'jd:sla:f', cid, new) end
end

-- End of the call: every contact noted gets its entry again (or loses it).
function SLA.flush()
    for _, cid in ipairs(SLA.list) do
        local f = SLA.compute(cid)
        if f then
            redis.call('HSET', 'jd:sla:f', cid, f)
        else
            redis.call('HDEL', 'jd:sla:f', cid)
        end
    end
end

-- Points every member at cid in hash (jd:idx for identities, jd:evc and jd:alias for ids),
-- one HSET per slice: unpack has a stack limit, and a contact may hold thousands of ids.
local POINT_SLICE = 1000
local function point_all(hash, members, cid)
    for i = 1, #members, POINT_SLICE do
        local args = {}
        for k = i, math.min(i + POINT_SLICE - 1, #members) do
            args[#args + 1] = members[k]
            args[#args + 1] = cid
        end
        redis.call('HSET', hash, unpack(args))
    end
end

-- Adds every member of zset `from` to zset `to` with its score, in slices (unpack limit).
local function zadd_all(to, from)
    local r = redis.call('ZRANGE', from, 0, -1, 'WITHSCORES')
    for i = 1, #r, 2 * POINT_SLICE do
        local args = {}
        for k = i, math.min(i + 2 * POINT_SLICE - 1, #r), 2 do
            args[#args + 1] = r[k + 1]
            args[#args + 1] = r[k]
        end
        redis.call('ZADD', to, unpack(args))
    end
end

-- Field o: the latest at of the open-door events a contact holds (see needs_restitch).
local function raise_open(cid, at)
    local cur = redis.call('HGET', ckey(cid), 'o')
    if not cur or at > tonumber(cur) then redis.call('HSET', ckey(cid), 'o', at) end
end

-- Does placing this event make its contact verified (see the header)?
local function verifies(ev)
    if ev.open then return false end
    for _, idn in ipairs(ev.ids) do
        if not ANON_TYPES[idn.type] then return true end
    end
    return false
end

local function cid_for(event_id)
    return 'c_' .. string.sub(redis.sha1hex(event_id), 1, 20)
end

local function holder(ident)
    return redis.call('HGET', 'jd:idx', ident)
end

-- First event of a contact: {at, id} or nil.
local function first_event(cid)
    local r = redis.call('ZRANGE', ckey(cid, 'j'), 0, 0, 'WITHSCORES')
    if #r == 0 then return nil end
    return {tonumber(r[2]), r[1]}
end

local function contact_before(a, b)
    local fa, fb = first_event(a), first_event(b)
    if not fa then return false end
    if not fb then return true end
    return ev_lt(fa[1], fa[2], fb[1], fb[2])
end

local function new_contact(cid)
    -- A contact id may come back to life after a re-stitch split its old survivor.
    redis.call('HDEL', 'jd:alias', cid)
    redis.call('HSET', ckey(cid), 'stage', 0)
end

local function add_identity(cid, ident, itype, value)
    redis.call('HSET', 'jd:idx', ident, cid)
    redis.call('SADD', ckey(cid, 'ids'), ident)
    if unique[itype] then redis.call('HSET', ckey(cid), 'u:' .. itype, value) end
end

local function alias_all(from, to)
    redis.call('HSET', 'jd:alias', from, to)
    redis.call('SADD', ckey(to, 'mf'), from)
    local mf = redis.call('SMEMBERS', ckey(from, 'mf'))
    for _, m in ipairs(mf) do
        if m ~= to then
            redis.call('HSET', 'jd:alias', m, to)
            redis.call('SADD', ckey(to, 'mf'), m)
        end
    end
    redis.call('SREM', ckey(to, 'mf'), to)
end

-- Stage entry (DESIGN §6b): the earliest at of the contact's events at stage s or higher.
local function set_entry(cid, s, at)
    local cur = redis.call('HGET', ckey(cid), E_FIELD[s])
    if not cur or at < tonumber(cur) then
        redis.call('HSET', ckey(cid), E_FIELD[s], at)
        redis.call('ZADD', ST_KEY[s], at, cid)
    end
end

local function delete_contact_keys(cid)
    SLA.note(cid)
    for s = 1, NSTAGES do redis.call('ZREM', ST_KEY[s], cid) end
    redis.call('DEL', ckey(cid), ckey(cid, 'ids'), ckey(cid, 'j'), ckey(cid, 'a'),
        ckey(cid, 'conf'), ckey(cid, 'cp'), ckey(cid, 'mf'))
end

-- The outbox's fields of a contact hash (below) when two contacts merge: a refusal of
-- consent wins over a grant, payments' net amounts add up, a click keeps its first time.
local function merge_outbox_field(into, field, value)
    local had = redis.call('HGET', ckey(into), field)
    if field == 'nc' then
        if had ~= '1' and (value == '1' or had ~= 'g') then
            redis.call('HSET', ckey(into), field, value)
        end
    elseif string.sub(field, 1, 5) == 'ob:p:' then
        redis.call('HINCRBY', ckey(into), field, tonumber(value) or 0)
    elseif not had or value < had then
        redis.call('HSET', ckey(into), field, value)
    end
end

-- Moves everything of `from` into `into`; `from` becomes an alias.
local function merge_into(into, from)
    SLA.note(into)
    SLA.note(from)
    local ids = redis.call('SMEMBERS', ckey(from, 'ids'))
    for _, ident in ipairs(ids) do
        redis.call('HSET', 'jd:idx', ident, into)
        redis.call('SADD', ckey(into, 'ids'), ident)
    end
    local h = redis.call('HGETALL', ckey(from))
    for i = 1, #h, 2 do
        if string.sub(h[i], 1, 2) == 'u:' or h[i] == 'v' then
            redis.call('HSET', ckey(into), h[i], h[i + 1])
        elseif h[i] == 'o' then
            raise_open(into, tonumber(h[i + 1]))
        elseif h[i] == 'nc' or string.sub(h[i], 1, 3) == 'ob:' then
            merge_outbox_field(into, h[i], h[i + 1])
        end
    end
    local s1 = tonumber(redis.call('HGET', ckey(into), 'stage') or '0')
    local s2 = tonumber(redis.call('HGET', ckey(from), 'stage') or '0')
    if s2 > s1 then redis.call('HSET', ckey(into), 'stage', s2) end
    for s = 1, NSTAGES do
        local e = redis.call('HGET', ckey(from), E_FIELD[s])
        if e then set_entry(into, s, tonumber(e)) end
    end
    point_all('jd:evc', redis.call('ZRANGE', ckey(from, 'a'), 0, -1), into)
    -- ZADD of what moves, not ZUNIONSTORE (which rewrites `into` whole): joining a small
    -- contact to a big one costs what the small one holds.
    zadd_all(ckey(into, 'j'), ckey(from, 'j'))
    zadd_all(ckey(into, 'a'), ckey(from, 'a'))
    local conf = redis.call('LRANGE', ckey(from, 'conf'), 0, -1)
    for _, c in ipairs(conf) do redis.call('RPUSH', ckey(into, 'conf'), c) end
    local cp = redis.call('SMEMBERS', ckey(from, 'cp'))
    for _, p in ipairs(cp) do redis.call('SADD', ckey(into, 'cp'), p) end
    alias_all(from, into)
    delete_contact_keys(from)
    stats.merges = stats.merges + 1
end

local CONTACT_SUFFIXES = {false, 'ids', 'j', 'a', 'conf', 'cp', 'mf'}

-- Gives a contact the id its first event implies (after an earlier event joined it).
-- Out-of-order deliveries make this common, so the keys move with RENAME (O(1) each)
-- and only the indexes that name the contact are rewritten; the result is what merging
-- into a fresh contact leaves. If anything already lives under the new id, merge.
local function rename(cid, new_cid)
    if cid == new_cid then return cid end
    SLA.note(cid)
    SLA.note(new_cid)
    local new_keys = {}
    for i, suffix in ipairs(CONTACT_SUFFIXES) do new_keys[i] = ckey(new_cid, suffix or nil) end
    if redis.call('EXISTS', unpack(new_keys)) > 0 then
        new_contact(new_cid)
        merge_into(new_cid, cid)
        stats.merges = stats.merges - 1
        return new_cid
    end
    redis.call('HDEL', 'jd:alias', new_cid)
    for i, suffix in ipairs(CONTACT_SUFFIXES) do
        -- Keys the contact never needed (no conflicts, no merges) do not exist.
        redis.pcall('RENAME', ckey(cid, suffix or nil), new_keys[i])
    end
    point_all('jd:idx', redis.call('SMEMBERS', ckey(new_cid, 'ids')), new_cid)
    point_all('jd:evc', redis.call('ZRANGE', ckey(new_cid, 'a'), 0, -1), new_cid)
    local entries = redis.call('HMGET', ckey(new_cid), unpack(E_FIELD))
    for st = 1, NSTAGES do
        if entries[st] then
            redis.call('ZREM', ST_KEY[st], cid)
            redis.call('ZADD', ST_KEY[st], entries[st], new_cid)
        end
    end
    -- The old id and every id merged into it now resolve to the new one.
    local aliases = {cid}
    for _, m in ipairs(redis.call('SMEMBERS', ckey(new_cid, 'mf'))) do
        if m ~= new_cid then table.insert(aliases, m) end
    end
    point_all('jd:alias', aliases, new_cid)
    redis.call('SADD', ckey(new_cid, 'mf'), cid)
    redis.call('SREM', ckey(new_cid, 'mf'), new_cid)
    return new_cid
end

-- Unique-type clashes between two contacts: list of {type, a, b}.
local function clashes(a, b)
    local out = {}
    for t, _ in pairs(unique) do
        local va = redis.call('HGET', ckey(a), 'u:' .. t)
        local vb = redis.call('HGET', ckey(b), 'u:' .. t)
        if va and vb and va ~= vb then table.insert(out, {t, va, vb}) end
    end
    table.sort(out, function(x, y) return str_lt(x[1], y[1]) end)
    return out
end

local function record_conflict(a, b, event_id, itype, v1, v2)
    local values = {v1, v2}
    table.sort(values, str_lt)
    local rec = cjson.encode({event = event_id, type = itype, values = values})
    redis.call('RPUSH', ckey(a, 'conf'), rec)
    if b then
        redis.call('RPUSH', ckey(b, 'conf'), rec)
        redis.call('SADD', ckey(a, 'cp'), b)
        redis.call('SADD', ckey(b, 'cp'), a)
    end
    stats.conflicts = stats.conflicts + 1
end

-- The contacts an event's identities resolve to, distinct, in identity order.
local function resolve_contacts(ev)
    local seen, list = {}, {}
    for _, idn in ipairs(ev.ids) do
        local h = holder(idn.key)
        if h and not seen[h] then
            seen[h] = true
            table.insert(list, h)
        end
    end
    return list
end

-- Would placing the event touch a conflict? (Then order matters: re-stitch instead.)
local function needs_restitch(ev, contacts)
    for _, c in ipairs(contacts) do
        if redis.call('SCARD', ckey(c, 'cp')) > 0 then return true end
    end
    -- A person's identity from a verified door, earlier in journey order than an open-door
    -- event of the contact: in order, that open event would have met a verified contact
    -- (and maybe refused a join), so the contact is rebuilt.
    if verifies(ev) then
        for _, c in ipairs(contacts) do
            local o = redis.call('HGET', ckey(c), 'o')
            if o and tonumber(o) >= ev.at then return true end
        end
    end
    -- The event's own unique values against the contacts it touches.
    for _, idn in ipairs(ev.ids) do
        if unique[idn.type] then
            for _, c in ipairs(contacts) do
                local v = redis.call('HGET', ckey(c), 'u:' .. idn.type)
                if v and v ~= idn.value then return true end
            end
        end
    end
    for i = 1, #contacts do
        for j = i + 1, #contacts do
            if #clashes(contacts[i], contacts[j]) > 0 then return true end
        end
    end
    return false
end

-- An open-door event touching two or more verified contacts (see the header): it may
-- join only the earliest of them. Returns the contacts it may join and the set of those
-- it may not, after recording an open_door conflict between each of those and the one
-- kept. The conflict names, for each side, the first of the event's identities it holds.
local function open_door_contacts(ev, contacts)
    local verified, link = {}, {}
    for _, idn in ipairs(ev.ids) do
        local h = holder(idn.key)
        if h and not link[h] then
            link[h] = idn.type .. ':' .. idn.value
            if redis.call('HGET', ckey(h), 'v') then table.insert(verified, h) end
        end
    end
    if #verified < 2 then return contacts, {} end
    local keep = verified[1]
    for i = 2, #verified do
        if contact_before(verified[i], keep) then keep = verified[i] end
    end
    local refused, out = {}, {}
    for _, c in ipairs(verified) do
        if c ~= keep then
            refused[c] = true
            record_conflict(keep, c, ev.id, 'open_door', link[keep], link[c])
        end
    end
    for _, c in ipairs(contacts) do
        if not refused[c] then table.insert(out, c) end
    end
    return out, refused
end

-- Places one event, as if all events so far had been applied in journey order.
-- Returns the contact id the event went to.
local function place_event(ev)
    local contacts, refused = resolve_contacts(ev), {}
    if ev.open then contacts, refused = open_door_contacts(ev, contacts) end
    local target = nil
    local carries_unique = false
    for _, idn in ipairs(ev.ids) do
        -- A unique identity a refused contact holds stays there, and does not count.
        local h = unique[idn.type] and holder(idn.key)
        if unique[idn.type] and not (h and refused[h]) then
            carries_unique = true
            if h then
                target = h
                break
            end
        end
    end
    if not target and not carries_unique and #contacts > 0 then
        target = contacts[1]
        for i = 2, #contacts do
            if contact_before(contacts[i], target) then target = contacts[i] end
        end
    end
    if not target then
        target = cid_for(ev.id)
        new_contact(target)
    end
    -- The event's unique identities first, so the merges below are checked against them.
    for _, idn in ipairs(ev.ids) do
        if unique[idn.type] and not holder(idn.key) then
            local v = redis.call('HGET', ckey(target), 'u:' .. idn.type)
            if v and v ~= idn.value then
                record_conflict(target, nil, ev.id, idn.type, v, idn.value)
            else
                add_identity(target, idn.key, idn.type, idn.value)
            end
        end
    end
    -- Merge the other contacts, earliest first; a unique-type clash keeps them apart.
    local others = {}
    for _, c in ipairs(contacts) do
        if c ~= target then table.insert(others, c) end
    end
    table.sort(others, contact_before)
    for _, c in ipairs(others) do
        local cl = clashes(target, c)
        if #cl == 0 then
            if contact_before(c, target) then
                merge_into(c, target)
                target = c
            else
                merge_into(target, c)
            end
        else
            for _, x in ipairs(cl) do record_conflict(target, c, ev.id, x[1], x[2], x[3]) end
        end
    end
    for _, idn in ipairs(ev.ids) do
        if not unique[idn.type] and not holder(idn.key) then
            add_identity(target, idn.key, idn.type, idn.value)
        end
    end
    if verifies(ev) then redis.call('HSET', ckey(target), 'v', '1') end
    if ev.open then raise_open(target, ev.at) end
    local first = first_event(target)
    SLA.note(target)
    redis.call('ZADD', ckey(target, 'j'), ev.at, ev.id)
    if ev.attr then redis.call('ZADD', ckey(target, 'a'), ev.at, ev.id) end
    if ev.conv then redis.call('HSET', 'jd:evc', ev.id, target) end
    local s = tonumber(redis.call('HGET', ckey(target), 'stage') or '0')
    if ev.stage > s then redis.call('HSET', ckey(target), 'stage', ev.stage) end
    if ev.stage > 0 then
        -- One read for all the stages this event reaches; most are already entered earlier.
        local fields = {}
        for st = 1, ev.stage do fields[st] = E_FIELD[st] end
        local cur = redis.call('HMGET', ckey(target), unpack(fields))
        for st = 1, ev.stage do
            if not cur[st] or ev.at < tonumber(cur[st]) then
                redis.call('HSET', ckey(target), E_FIELD[st], ev.at)
                redis.call('ZADD', ST_KEY[st], ev.at, target)
            end
        end
    end
    if first and ev_lt(ev.at, ev.id, first[1], first[2]) then
        target = rename(target, cid_for(ev.id))
    end
    return target
end

-- Rebuilds an event's placement data from its stored JSON (used when re-stitching).
local function stored_event(id, at)
    local json = redis.call('HGET', 'jd:ev', id)
    local ev = {id = id, at = at, stage = 0, ids = {}}
    ev.open = redis.call('SISMEMBER', 'jd:evo', id) == 1
    if not json then return ev end
    local ok, obj = pcall(cjson.decode, json)
    if not ok or type(obj) ~= 'table' then return ev end
    if type(obj.stage) == 'string' then ev.stage = STAGE_RANK[obj.stage] or 0 end
    -- The daemon's report flags, from the same fields: 1 a conversion, 2 a touch.
    ev.conv = (obj.kind == 'payment' or obj.kind == 'refund') and type(obj.amount) == 'table'
    ev.attr = ev.conv or type(obj.touch) == 'table'
    if type(obj.identities) == 'table' then
        for _, i in ipairs(obj.identities) do
            if type(i) == 'table' and type(i.type) == 'string' and type(i.value) == 'string' then
                table.insert(ev.ids, {type = i.type, value = i.value, key = i.type .. '\t' .. i.value})
            end
        end
    end
    return ev
end

-- Re-applies, in journey order, every event of the contacts involved (and of those they
-- have conflicts with) plus the new one: the result is what in-order arrival gives.
local function restitch(ev, contacts)
    local set, queue, list = {}, {}, {}
    for _, c in ipairs(contacts) do
        if not set[c] then
            set[c] = true
            table.insert(queue, c)
        end
    end
    local i = 1
    while i <= #queue and #queue <= RESTITCH_MAX_CONTACTS do
        local cp = redis.call('SMEMBERS', ckey(queue[i], 'cp'))
        for _, p in ipairs(cp) do
            local live = redis.call('HGET', 'jd:alias', p) or p
            if not set[live] and redis.call('EXISTS', ckey(live)) == 1 then
                set[live] = true
                table.insert(queue, live)
            end
        end
        i = i + 1
    end
    if #queue > RESTITCH_MAX_CONTACTS then
        stats.unordered = stats.unordered + 1
        return nil
    end
    -- Later than everything the contacts hold: in-order replay would place it last, on the
    -- state we already have, so placing it online is exact.
    local late = true
    for _, c in ipairs(queue) do
        local last = redis.call('ZRANGE', ckey(c, 'j'), -1, -1, 'WITHSCORES')
        if #last > 0 and not ev_lt(tonumber(last[2]), last[1], ev.at, ev.id) then
            late = false
            break
        end
    end
    if late then return nil end
    local total = 0
    for _, c in ipairs(queue) do total = total + redis.call('ZCARD', ckey(c, 'j')) end
    if total > restitch_budget then
        stats.unordered = stats.unordered + 1
        return nil -- over this call's budget: place online (order may then matter)
    end
    restitch_budget = restitch_budget - total
    local events = {ev}
    local old_first = {}
    for _, c in ipairs(queue) do
        local j = redis.call('ZRANGE', ckey(c, 'j'), 0, -1, 'WITHSCORES')
        for k = 1, #j, 2 do
            table.insert(events, stored_event(j[k], tonumber(j[k + 1])))
        end
        if #j > 0 then old_first[c] = j[1] end
        local mf = redis.call('SMEMBERS', ckey(c, 'mf'))
        for _, m in ipairs(mf) do list[m] = j[1] end
        for _, ident in ipairs(redis.call('SMEMBERS', ckey(c, 'ids'))) do
            redis.call('HDEL', 'jd:idx', ident)
        end
        delete_contact_keys(c)
    end
    table.sort(events, function(a, b) return ev_lt(a.at, a.id, b.at, b.id) end)
    local placed = {}
    local target_of_new = nil
    for _, e in ipairs(events) do
        local t = place_event(e)
        placed[e.id] = t
        if e == ev then target_of_new = t end
    end
    -- Old ids keep resolving: each to the contact that now holds its first event.
    local function live(cid)
        return redis.call('HGET', 'jd:alias', cid) or cid
    end
    for c, first in pairs(old_first) do
        if redis.call('EXISTS', ckey(c)) == 0 and placed[first] then
            local to = live(placed[first])
            if to ~= c then
                redis.call('HSET', 'jd:alias', c, to)
                redis.call('SADD', ckey(to, 'mf'), c)
            end
        end
    end
    for m, first in pairs(list) do
        if first and placed[first] and redis.call('EXISTS', ckey(m)) == 0 then
            local to = live(placed[first])
            if to ~= m then
                redis.call('HSET', 'jd:alias', m, to)
                redis.call('SADD', ckey(to, 'mf'), m)
            end
        end
    end
    stats.restitched = stats.restitched + 1
    return live(target_of_new)
end

-- The common case, an event that reaches at most one contact and no conflict, placed with
-- batched reads and writes: it leaves exactly what place_event would. Every redis.call
-- costs more than the Lua around it, so this path is what sets the stitching rate.
-- `held` holds the jd:idx answers for the event's identities (false: not held).
-- Returns false when the event needs the general path.
local function place_simple(ev, held)
    local contact = nil
    local carries_unique, unique_held = false, false
    for k, idn in ipairs(ev.ids) do
        local h = held[k]
        if h then
            if contact and contact ~= h then return false end
            contact = h
            if unique[idn.type] then unique_held = true end
        end
        if unique[idn.type] then carries_unique = true end
    end
    -- A unique identity no one holds next to a held plain one starts a new contact that
    -- then merges the held one: the general path's business.
    if contact and carries_unique and not unique_held then return false end

    local fields = {'stage', unpack(E_FIELD)}
    local utypes = {}
    for t, _ in pairs(unique) do
        table.insert(utypes, t)
        table.insert(fields, 'u:' .. t)
    end
    table.insert(fields, 'v')
    table.insert(fields, 'o')
    local target = contact
    local cur
    if target then
        if redis.call('SCARD', ckey(target, 'cp')) > 0 then return false end
        cur = redis.call('HMGET', ckey(target), unpack(fields))
    else
        target = cid_for(ev.id)
        redis.call('HDEL', 'jd:alias', target)
        cur = {}
    end
    local uval = {}
    for i, t in ipairs(utypes) do uval[t] = cur[1 + NSTAGES + i] or nil end
    -- The event's own unique values against the contact's: a clash means re-stitch.
    for _, idn in ipairs(ev.ids) do
        if unique[idn.type] and uval[idn.type] and uval[idn.type] ~= idn.value then return false end
    end
    local open_at = cur[#fields] and tonumber(cur[#fields])
    if open_at and open_at >= ev.at and verifies(ev) then return false end

    -- From here on the event is placed; nothing below reads what it wrote.
    local hset = {}
    if not contact then hset = {'stage', '0'} end
    local members, seen = {}, {}
    -- Unique identities first (as place_event): two values of one type in the same event
    -- keep the first and record the second as a conflict.
    for pass = 1, 2 do
        for k, idn in ipairs(ev.ids) do
            local is_unique = unique[idn.type] and true or false
            if is_unique == (pass == 1) and not held[k] and not seen[idn.key] then
                if is_unique and uval[idn.type] and uval[idn.type] ~= idn.value then
                    record_conflict(target, nil, ev.id, idn.type, uval[idn.type], idn.value)
                else
                    seen[idn.key] = true
                    table.insert(members, idn.key)
                    if is_unique then
                        uval[idn.type] = idn.value
                        table.insert(hset, 'u:' .. idn.type)
                        table.insert(hset, idn.value)
                    end
                end
            end
        end
    end
    if #members > 0 then
        point_all('jd:idx', members, target)
        redis.call('SADD', ckey(target, 'ids'), unpack(members))
    end

    local first = contact and first_event(target) or nil
    SLA.placed(target, ev, cur[3])
    redis.call('ZADD', ckey(target, 'j'), ev.at_s, ev.id)
    if ev.attr then redis.call('ZADD', ckey(target, 'a'), ev.at_s, ev.id) end
    if ev.conv then redis.call('HSET', 'jd:evc', ev.id, target) end
    if ev.stage > (tonumber(cur[1]) or 0) then
        table.insert(hset, 'stage')
        table.insert(hset, ev.stage)
    end
    for st = 1, ev.stage do
        local e = cur[1 + st]
        if not e or ev.at < tonumber(e) then
            table.insert(hset, E_FIELD[st])
            table.insert(hset, ev.at_s)
            redis.call('ZADD', ST_KEY[st], ev.at_s, target)
        end
    end
    if not cur[#fields - 1] and verifies(ev) then
        table.insert(hset, 'v')
        table.insert(hset, '1')
    end
    if ev.open and not (open_at and open_at >= ev.at) then
        table.insert(hset, 'o')
        table.insert(hset, ev.at_s)
    end
    if #hset > 0 then redis.call('HSET', ckey(target), unpack(hset)) end
    if first and ev_lt(ev.at, ev.id, first[1], first[2]) then rename(target, cid_for(ev.id)) end
    return true
end

-- Erasure tombstones (erase.lua's header): an event whose id was erased, or that carries
-- an erased identity and happened before that erasure, is dropped (counted as a
-- duplicate). Without any erasure the check costs one EXISTS per call.
local erased_salt = redis.call('EXISTS', 'jd:erased') == 1 and redis.call('GET', 'jd:salt')
local function erased(ev)
    if not erased_salt then return false end
    local fields = {redis.sha1hex(erased_salt .. '\n' .. ev.id)}
    for k, idn in ipairs(ev.ids) do fields[k + 1] = redis.sha1hex(erased_salt .. '\t' .. idn.key) end
    local r = redis.call('HMGET', 'jd:erased', unpack(fields))
    if r[1] then return true end
    for k = 2, #fields do
        if r[k] and ev.at < tonumber(r[k]) then return true end
    end
    return false
end

-- The person's name an event gave, kept per identity in jd:pn as "<v>\t<at_ms>\t<name>"
-- (v: 1 verified door, 0 open door) so merges, renames and re-stitches, which move
-- identities, carry it along. An identity keeps the greatest (v, at, name): a verified
-- name beats anything an open door says, then the latest wins, whatever the arrival
-- order. report.lua's "people" reads it; erase.lua deletes it with the identities.
local function keep_name(ev)
    local keys = {}
    for k, idn in ipairs(ev.ids) do keys[k] = idn.key end
    local v = ev.open and 0 or 1
    local cur = redis.call('HMGET', 'jd:pn', unpack(keys))
    for k = 1, #keys do
        local better = true
        if cur[k] then
            local cv, cat, cname = string.match(cur[k], '^(%d)\t(%d+)\t(.*)$')
            cv, cat = tonumber(cv), tonumber(cat)
            if cv and cat then
                if cv ~= v then better = v > cv
                elseif cat ~= ev.at then better = ev.at > cat
                else better = str_lt(cname, ev.name) end
            end
        end
        if better then redis.call('HSET', 'jd:pn', keys[k], v .. '\t' .. ev.at_s .. '\t' .. ev.name) end
    end
end

local function apply_event(ev, json, record, conversion)
    -- HSETNX is the dedup check and the store in one call; erased ids are refused first.
    if erased(ev) or redis.call('EXISTS', 'jd:gone:' .. ev.id) == 1 or redis.call('HSETNX', 'jd:ev', ev.id, json) == 0 then
        stats.duplicates = stats.duplicates + 1
        return
    end
    redis.call('HSET', 'jd:evr', ev.id, record)
    if ev.open then redis.call('SADD', 'jd:evo', ev.id) end
    if ev.name and #ev.ids > 0 then keep_name(ev) end
    if conversion then redis.call('ZADD', 'jd:conv', ev.at_s, ev.id) end
    local held = {}
    if #ev.ids > 0 then
        local keys = {}
        for k, idn in ipairs(ev.ids) do keys[k] = idn.key end
        local r = redis.call('HMGET', 'jd:idx', unpack(keys))
        for k = 1, #ev.ids do held[k] = r[k] or false end
    end
    if place_simple(ev, held) then
        stats.applied = stats.applied + 1
        return
    end
    local contacts = resolve_contacts(ev)
    if not ev.open and needs_restitch(ev, contacts) then
        if restitch(ev, contacts) then
            stats.applied = stats.applied + 1
            return
        end
    end
    place_event(ev)
    stats.applied = stats.applied + 1
end

-- Retention (retention.lua publishes its cutoff while a journeyd runs the sweep): an event
-- older than it is not stored, so a redelivery of a removed event cannot bring it back.
-- Counted with the duplicates: like one, it changes nothing.
local retain_cutoff = tonumber(redis.call('GET', 'jd:ret:cutoff') or '')
local function expired(ev)
    if not retain_cutoff or ev.at >= retain_cutoff then return false end
    stats.duplicates = stats.duplicates + 1
    return true
end

-- ---- The outbox (issue 14): what must go out, decided in this same atomic call ----
-- When destinations are configured the worker appends one last argument,
--   "jd-outbox\t<consent field>\t<sla 0|1>\t<kind>=<dest>,<dest>;<kind>=<dest>..."
-- (the subscriptions of the [destination] sections). For every event applied (not a
-- duplicate) that raises its contact's stage, pays or refunds, one entry per subscribed
-- destination goes to the stream jd:out: d destination, k kind, x dedup key, c contact, e event,
-- f facts (JSON, destinations/destination.h). The dedup key depends only on the kind and
-- the event, so a re-applied event (it is not: HSETNX) or a redelivered message keeps it.
-- jd:out:ev maps an event id to its pending entries, so erase.lua can drop them. With
-- sla on, a lead that a marketing event brought waits in jd:sla:due (scored by its lead
-- time) until a response or a payment takes it out; daemon/outbox.c's timer alerts once.
-- Cost: nothing without destinations; else per event applied an HMGET and an HGET per
-- contact it names, an HGET and a ZSCORE to find its contact again and a decode of its
-- JSON (for its kind and consent), and, only for an event that sends, its contact's
-- identities (at most OUT_IDS of them) and an XADD per destination; an event with a click
-- id or an amount also an HGET and HSET (or HINCRBY) of the contact hash.
local OUT, OUT_CONSENT, OUT_SLA = nil, '', false
do
    local last = ARGV[#ARGV]
    if type(last) == 'string' and string.sub(last, 1, 10) == 'jd-outbox\t' then
        local consent, sla, subs = string.match(last, '^jd%-outbox\t([^\t]*)\t([01])\t(.*)$')
        OUT, OUT_CONSENT, OUT_SLA = {}, consent or '', sla == '1'
        for kind, dests in string.gmatch(subs or '', '([^=;]+)=([^;]*)') do
            local l = {}
            for d in string.gmatch(dests, '[^,]+') do l[#l + 1] = d end
            OUT[kind] = l
        end
    end
end
local STAGE_NAME = {}
for name, rank in pairs(STAGE_RANK) do STAGE_NAME[rank] = name end
local OUT_RESPONSE = {sales_touch = true, meeting = true, stage_change = true, deal_won = true,
    deal_lost = true}
local OUT_CRM = {hubspot = true, pipedrive = true, salesforce = true}
local OUT_MARKETING = {lead = true, form = true, custom = true, click = true, visit = true}
-- A contact's identities in a message: all of them up to this many (a sample beyond).
local OUT_IDS = 64

-- The highest stage among the contacts the event's identities name, before it is placed.
local function outbox_before(ev)
    if not OUT then return nil end
    local best = 0
    if #ev.ids > 0 then
        local keys = {}
        for k, idn in ipairs(ev.ids) do keys[k] = idn.key end
        local seen = {}
        for _, c in ipairs(redis.call('HMGET', 'jd:idx', unpack(keys))) do
            if c and not seen[c] then
                seen[c] = true
                best = math.max(best, tonumber(redis.call('HGET', ckey(c), 'stage') or '0') or 0)
            end
        end
    end
    return {stage = best, applied = stats.applied}
end

-- The contact that holds the event now: one of its identities' (a conflict may keep it
-- from the first), or its own when it carries none.
local function outbox_contact(ev)
    for _, idn in ipairs(ev.ids) do
        local c = redis.call('HGET', 'jd:idx', idn.key)
        if c and redis.call('ZSCORE', ckey(c, 'j'), ev.id) then return c end
    end
    return live_contact(cid_for(ev.id))
end

local function outbox_facts(ev, obj, cid, stage, before, extra)
    local f = {event = ev.id, kind = obj.kind, at = obj.at, contact = cid,
        stage = STAGE_NAME[stage], previous_stage = STAGE_NAME[before], touch = obj.touch,
        amount = obj.amount, payment_key = obj.payment_key, identities = {}, click_ids = {}}
    local stages = {}
    for st = before + 1, stage do stages[#stages + 1] = STAGE_NAME[st] end
    if #stages > 0 then f.stages = stages end
    local ids
    if redis.call('SCARD', ckey(cid, 'ids')) <= OUT_IDS then
        ids = redis.call('SMEMBERS', ckey(cid, 'ids'))
    else
        ids = redis.call('SRANDMEMBER', ckey(cid, 'ids'), OUT_IDS)
    end
    table.sort(ids)
    for _, key in ipairs(ids) do
        local t, v = string.match(key, '^([^\t]*)\t(.*)$')
        if t and ANON_TYPES[t] and t ~= 'anon' then f.click_ids[t] = v
        elseif t then f.identities[#f.identities + 1] = {type = t, value = v} end
    end
    if next(f.click_ids) == nil then f.click_ids = nil end
    if #f.identities == 0 then f.identities = nil end
    local attrs = type(obj.attributes) == 'table' and obj.attributes or {}
    f.name = type(attrs.name) == 'string' and attrs.name or nil
    local nc = redis.call('HGET', ckey(cid), 'nc')
    if nc == '1' then f.consent_refused = true elseif nc == 'g' then f.consent_granted = true end
    if f.click_ids and f.click_ids.fbclid then
        f.click_at = redis.call('HGET', ckey(cid), 'ob:c:fbclid\t' .. f.click_ids.fbclid) or nil
    end
    for k, v in pairs(extra or {}) do f[k] = v end
    return cjson.encode(f)
end

local function outbox_emit(kind, ev, cid, facts)
    local dests = OUT[kind]
    if not dests or #dests == 0 then return end
    local dedup = 'msg_' .. string.sub(redis.sha1hex(kind .. '\n' .. ev.id), 1, 32)
    local ids = {}
    for _, d in ipairs(dests) do
        ids[#ids + 1] = redis.call('XADD', 'jd:out', '*', 'd', d, 'k', kind, 'x', dedup,
            'c', cid, 'e', ev.id, 'f', facts)
    end
    local had = redis.call('HGET', 'jd:out:ev', ev.id)
    redis.call('HSET', 'jd:out:ev', ev.id, (had and had .. ' ' or '') .. table.concat(ids, ' '))
end

local function outbox_after(ev, json, before)
    if not before or stats.applied == before.applied then return end
    local cid = outbox_contact(ev)
    if not cid then return end
    local obj = cjson.decode(json)
    local attrs = type(obj.attributes) == 'table' and obj.attributes or {}
    local consent = OUT_CONSENT ~= '' and attrs[OUT_CONSENT]
    if consent ~= nil and consent ~= false then
        local v = string.lower(tostring(consent))
        local nc = (v == 'no' or v == 'false' or v == '0') and '1'
            or ((v == 'yes' or v == 'true' or v == '1') and 'g' or '0')
        redis.call('HSET', ckey(cid), 'nc', nc)
    end
    -- Facts only the outbox keeps in the contact hash (merge_outbox_field): when each click
    -- id was first seen (Meta's fbc creation time), and per payment key what its payments
    -- less its refunds leave (a refund restates a Google conversion's value).
    for _, idn in ipairs(ev.ids) do
        if ANON_TYPES[idn.type] and idn.type ~= 'anon' and type(obj.at) == 'string' then
            local field = 'ob:c:' .. idn.key
            local had = redis.call('HGET', ckey(cid), field)
            if not had or obj.at < had then redis.call('HSET', ckey(cid), field, obj.at) end
        end
    end
    local remaining
    if ev.conv and type(obj.payment_key) == 'string' and type(obj.amount) == 'table'
        and tonumber(obj.amount.minor) then
        local field = 'ob:p:' .. obj.payment_key
        local known = redis.call('HEXISTS', ckey(cid), field) == 1
        local minor = math.abs(tonumber(obj.amount.minor))
        local left = redis.call('HINCRBY', ckey(cid), field, obj.kind == 'refund' and -minor or minor)
        if obj.kind == 'refund' and known and type(obj.amount.currency) == 'string' then
            remaining = {minor = math.max(left, 0), currency = obj.amount.currency}
        end
    end
    local stage = tonumber(redis.call('HGET', ckey(cid), 'stage') or '0') or 0
    local crm = OUT_CRM[obj.type] == true
    if OUT_SLA then
        local due = redis.call('ZSCORE', 'jd:sla:due', cid)
        if due and ev.at >= tonumber(due) and (OUT_RESPONSE[obj.kind] or crm or obj.kind == 'payment') then
            redis.call('ZREM', 'jd:sla:due', cid)
        end
    end
    local lead = STAGE_RANK['lead']
    if stage > before.stage and stage >= lead then
        if before.stage < lead then
            outbox_emit('lead.created', ev, cid, outbox_facts(ev, obj, cid, stage, before.stage))
            if OUT_SLA and not crm and OUT_MARKETING[obj.kind] then
                redis.call('ZADD', 'jd:sla:due', ev.at_s, cid)
            end
        end
        outbox_emit('contact.stage_changed', ev, cid, outbox_facts(ev, obj, cid, stage, before.stage))
    end
    if ev.conv and obj.kind == 'payment' then
        outbox_emit('contact.paid', ev, cid, outbox_facts(ev, obj, cid, stage, before.stage))
    elseif ev.conv and obj.kind == 'refund' then
        outbox_emit('contact.refunded', ev, cid,
            outbox_facts(ev, obj, cid, stage, before.stage, {amount_remaining = remaining}))
    end
end

local n = tonumber(ARGV[4])
local p = 5
for _ = 1, n do
    -- at_s goes to Redis as sent: a Lua number would be printed back with "%.17g".
    local ev = {id = ARGV[p], at = tonumber(ARGV[p + 1]), at_s = ARGV[p + 1], stage = tonumber(ARGV[p + 2]), ids = {}}
    local flags = tonumber(ARGV[p + 3])
    local conversion = flags % 2 == 1
    ev.attr = flags % 4 > 0
    ev.conv = conversion
    ev.open = flags % 8 >= 4
    local nids = tonumber(ARGV[p + 4])
    p = p + 5
    for _ = 1, nids do
        local t, v = ARGV[p], ARGV[p + 1]
        table.insert(ev.ids, {type = t, value = v, key = t .. '\t' .. v})
        p = p + 2
    end
    if flags >= 8 then
        ev.name = ARGV[p]
        p = p + 1
    end
    ev.rec = ARGV[p + 1]
    if not expired(ev) then
        local before = outbox_before(ev)
        apply_event(ev, ARGV[p], ARGV[p + 1], conversion)
        outbox_after(ev, ARGV[p], before)
    end
    p = p + 2
end

SLA.flush()

if ARGV[2] ~= '' then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
    redis.call('XDEL', KEYS[1], ARGV[2])
end

return {stats.applied, stats.duplicates, stats.merges, stats.conflicts, stats.restitched,
    stats.unordered}
