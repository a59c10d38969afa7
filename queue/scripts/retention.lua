-- retention.lua: one slice of the retention sweep (config key `retention`; the daemon's
-- timer is daemon/retention.c). Events older than the cutoff leave the journeys and every
-- report index, and what reports derive from them is recomputed from the events that stay,
-- so a report after a pass equals a report computed from scratch on the kept events only:
--   * the event: jd:ev, jd:evr, jd:evc, jd:conv, jd:evo, its contact's :j and :a;
--   * stage entries (jd:c:<cid> e<rank>, jd:st:<rank>): an entry older than the cutoff came
--     from a removed event; it is cleared, and set again from the first kept event that
--     reaches the stage (a walk of the kept journey in order); the contact's stage becomes
--     the highest stage it still entered;
--   * the contact id: DESIGN §4 derives it from the first event, so a contact whose first
--     event went takes the id of its first kept one (the old id keeps resolving to it);
--   * a contact left without events is removed with its identities and aliases (as
--     erase.lua does), so a later event with its email starts a new contact.
-- Not recomputed: who is who. Identities learned from removed events stay with their
-- contact while it has events (a contact that only a removed event joined stays joined),
-- and so do conflict records and the open-door fields v and o (which only ever make
-- apply.lua re-stitch more, never less).
--
-- Redelivered old events: apply.lua refuses events older than jd:ret:cutoff, which this
-- script publishes on every call (with an expiry, so it lapses when no journeyd runs the
-- sweep any more); whatever slips in meanwhile goes at the next pass.
--
-- Bounded work per call (Redis runs one script at a time): at most ARGV[3] events removed
-- or read, one SCAN step of ARGV[4] keys, and the contact being worked on is kept in
-- jd:ret:cur across calls (a contact bigger than a slice takes several), so a pass over
-- any number of contacts is a series of short calls, and a restart resumes where the last
-- call stopped. Between calls apply.lua may merge, rename, re-stitch or erase that contact:
-- when its id no longer names a contact, the survivor (if any) is taken up again with
-- every stage entry walked afresh; a re-stitch recomputes entries from the events present,
-- so entries still to walk are cleared again once the old events are gone.
--
-- State (also in prelude.lua's key layout):
--   jd:ret        hash    cursor (the pass's SCAN cursor, "end" once the scan is over; absent
--                         between passes), started, removed, contacts (the pass's counts),
--                         done (ms the last pass ended)
--   jd:ret:todo   list    contacts the scan found with events older than the cutoff
--   jd:ret:cur    hash    the contact in hand: cid, phase ("rm" then "walk"), need (stage
--                         ranks still to find, comma-separated), pos (walk offset)
--   jd:ret:cutoff string  the cutoff (ms) apply.lua refuses older events by; expires
--
-- ARGV[1] cutoff ms (events with at < cutoff go)   ARGV[2] now ms
-- ARGV[3] events per call   ARGV[4] keys per SCAN step
-- ARGV[5] ms between the end of a pass and the start of the next
-- ARGV[6] ms jd:ret:cutoff lives without a refresh
-- Returns {state, events removed, contacts removed, ms}:
--   "more"  call again soon (counts so far in this pass)
--   "done"  this call ended a pass (the pass's counts; ms: how long it took)
--   "wait"  the last pass ended less than ARGV[5] ago; ms until the next is due

local cutoff = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local scan_keys = ARGV[4]
local pause = tonumber(ARGV[5])

redis.call('SET', 'jd:ret:cutoff', ARGV[1], 'PX', ARGV[6])

-- What taking up or finishing a contact costs, counted in events against ARGV[3]: a few
-- dozen commands (its entries, its stage, its id), about what removing four events costs.
local CONTACT_COST = 4

local ST_KEY, E_FIELD = {}, {}
for st = 1, NSTAGES do
    ST_KEY[st] = 'jd:st:' .. st
    E_FIELD[st] = 'e' .. st
end

local function ckey(cid, suffix)
    if suffix then return 'jd:c:' .. cid .. ':' .. suffix end
    return 'jd:c:' .. cid
end

-- The same derivation as apply.lua's cid_for (DESIGN §4: the id of the first event).
local function cid_for(event_id)
    return 'c_' .. string.sub(redis.sha1hex(event_id), 1, 20)
end

local state = redis.call('HMGET', 'jd:ret', 'cursor', 'done', 'started')
local cursor, started = state[1], tonumber(state[3] or '') or now
if not cursor then
    local done = tonumber(state[2] or '')
    if done and now - done < pause and now >= done then
        return {'wait', 0, 0, pause - (now - done)}
    end
    cursor, started = '0', now
    redis.call('HSET', 'jd:ret', 'cursor', cursor, 'started', now, 'removed', 0, 'contacts', 0)
end
local removed, dropped = 0, 0
-- The SLA index entry (apply.lua's SLA block) of a contact this script changes goes: the
-- report reads that lead's journey instead, until apply.lua next computes the entry.
local function sla_forget(cid)
    redis.call('HDEL', 'jd:sla:f', cid)
end

-- Takes a contact up: clears the stage entries its removal may change (all of them when
-- `all`: a survivor of a merge or rename whose entries were half recomputed) and notes
-- them as what the walk must find again.
local function start(cid, all)
    sla_forget(cid)
    local e = redis.call('HMGET', ckey(cid), unpack(E_FIELD))
    local need = {}
    for s = 1, NSTAGES do
        if all or (e[s] and tonumber(e[s]) < cutoff) then
            table.insert(need, s)
            redis.call('HDEL', ckey(cid), E_FIELD[s])
            redis.call('ZREM', ST_KEY[s], cid)
        end
    end
    redis.call('HSET', 'jd:ret:cur', 'cid', cid, 'phase', 'rm', 'need', table.concat(need, ','),
        'pos', 0)
end

-- The earliest entry wins: apply.lua may have set one from a newer event meanwhile.
local function set_entry(cid, s, at_s)
    sla_forget(cid)
    local cur = redis.call('HGET', ckey(cid), E_FIELD[s])
    if not cur or tonumber(at_s) < tonumber(cur) then
        redis.call('HSET', ckey(cid), E_FIELD[s], at_s)
        redis.call('ZADD', ST_KEY[s], at_s, cid)
    end
end

-- Removes events (ids of one contact) from the contact and every index, in one command each.
local function remove_events(cid, ids)
    if #ids == 0 then return end
    sla_forget(cid)
    redis.call('HDEL', 'jd:ev', unpack(ids))
    redis.call('HDEL', 'jd:evr', unpack(ids))
    redis.call('HDEL', 'jd:evc', unpack(ids))
    redis.call('ZREM', 'jd:conv', unpack(ids))
    redis.call('SREM', 'jd:evo', unpack(ids))
    redis.call('ZREM', ckey(cid, 'j'), unpack(ids))
    redis.call('ZREM', ckey(cid, 'a'), unpack(ids))
    removed = removed + #ids
end

-- A contact without events: gone with its identities and the ids merged into it (what
-- erase.lua removes, without the tombstones: apply.lua refuses old events by the cutoff).
local function drop_contact(cid)
    sla_forget(cid)
    local ids = redis.call('SMEMBERS', ckey(cid, 'ids'))
    for _, ident in ipairs(ids) do
        if redis.call('HGET', 'jd:idx', ident) == cid then redis.call('HDEL', 'jd:idx', ident) end
    end
    local mf = redis.call('SMEMBERS', ckey(cid, 'mf'))
    for _, m in ipairs(mf) do redis.call('HDEL', 'jd:alias', m) end
    for s = 1, NSTAGES do redis.call('ZREM', ST_KEY[s], cid) end
    redis.call('DEL', ckey(cid), ckey(cid, 'ids'), ckey(cid, 'j'), ckey(cid, 'a'),
        ckey(cid, 'conf'), ckey(cid, 'cp'), ckey(cid, 'mf'))
    dropped = dropped + 1
    return #ids + #mf
end

-- Points every member at cid in a hash, a slice per HSET (unpack's stack limit).
local function point_all(hash, members, cid)
    for i = 1, #members, 1000 do
        local args = {}
        for k = i, math.min(i + 999, #members) do
            args[#args + 1] = members[k]
            args[#args + 1] = cid
        end
        redis.call('HSET', hash, unpack(args))
    end
end

local SUFFIXES = {false, 'ids', 'j', 'a', 'conf', 'cp', 'mf'}

-- The contact under the id of its first kept event, as apply.lua's rename leaves it (keys
-- moved with RENAME, the indexes naming it rewritten, old ids resolving to the new one).
-- Should another contact already live under that id (possible only after a re-stitch
-- split), the contact keeps its id: merging is apply.lua's business. Returns the work done.
local function rename(cid, new_cid)
    local new_keys = {}
    for i, suffix in ipairs(SUFFIXES) do new_keys[i] = ckey(new_cid, suffix or nil) end
    if redis.call('EXISTS', unpack(new_keys)) > 0 then return 1 end
    sla_forget(cid)
    sla_forget(new_cid)
    redis.call('HDEL', 'jd:alias', new_cid)
    for i, suffix in ipairs(SUFFIXES) do
        -- Keys the contact never needed (no conflicts, no merges) do not exist.
        redis.pcall('RENAME', ckey(cid, suffix or nil), new_keys[i])
    end
    local ids = redis.call('SMEMBERS', ckey(new_cid, 'ids'))
    point_all('jd:idx', ids, new_cid)
    local a = redis.call('ZRANGE', ckey(new_cid, 'a'), 0, -1)
    point_all('jd:evc', a, new_cid)
    local entries = redis.call('HMGET', ckey(new_cid), unpack(E_FIELD))
    for s = 1, NSTAGES do
        if entries[s] then
            redis.call('ZREM', ST_KEY[s], cid)
            redis.call('ZADD', ST_KEY[s], entries[s], new_cid)
        end
    end
    local aliases = {cid}
    for _, m in ipairs(redis.call('SMEMBERS', ckey(new_cid, 'mf'))) do
        if m ~= new_cid then table.insert(aliases, m) end
    end
    point_all('jd:alias', aliases, new_cid)
    redis.call('SADD', ckey(new_cid, 'mf'), cid)
    redis.call('SREM', ckey(new_cid, 'mf'), new_cid)
    return #ids + #a + #aliases
end

-- The contact's old events are gone and its entries found again: its stage and its id.
local function finish(cid)
    if redis.call('EXISTS', ckey(cid, 'j')) == 0 then return drop_contact(cid) end
    local e = redis.call('HMGET', ckey(cid), unpack(E_FIELD))
    local stage = 0
    for s = 1, NSTAGES do
        if e[s] then stage = s end
    end
    redis.call('HSET', ckey(cid), 'stage', stage)
    local first = redis.call('ZRANGE', ckey(cid, 'j'), 0, 0)
    local new_cid = cid_for(first[1])
    if new_cid ~= cid then return rename(cid, new_cid) end
    return 1
end

-- The effective stage rank, the record's second field (connectors/record.c).
local function record_stage(rec)
    if not rec then return 0 end
    return tonumber(string.match(rec, '^[^\31]*\31(%d+)') or '0') or 0
end

-- Works on the contact in hand with at most `left` events; returns the work done (>= 1).
local function work(left)
    local w = redis.call('HMGET', 'jd:ret:cur', 'cid', 'phase', 'need', 'pos')
    local cid = w[1]
    if redis.call('EXISTS', ckey(cid)) == 0 then
        -- Merged, renamed, re-stitched away or erased since the last call.
        redis.call('DEL', 'jd:ret:cur')
        local live = live_contact(cid)
        if live then start(live, true) end
        return 1
    end
    local need = {}
    for s in string.gmatch(w[3] or '', '%d+') do table.insert(need, tonumber(s)) end
    local used = 0
    if w[2] == 'rm' then
        local old = redis.call('ZRANGEBYSCORE', ckey(cid, 'j'), '-inf', '(' .. cutoff,
            'LIMIT', 0, left)
        remove_events(cid, old)
        if #old >= left then return #old end
        used = math.max(#old, 1)
        -- A re-stitch between calls may have set these entries from the old events again.
        for _, s in ipairs(need) do
            redis.call('HDEL', ckey(cid), E_FIELD[s])
            redis.call('ZREM', ST_KEY[s], cid)
        end
        redis.call('HSET', 'jd:ret:cur', 'phase', 'walk', 'pos', 0)
        w[4] = '0'
    end
    -- The walk: the first kept event (journey order) at each needed stage or above.
    local pos = tonumber(w[4]) or 0
    local at_end = false
    while #need > 0 and used < left do
        local n = math.min(left - used, 100)
        local page = redis.call('ZRANGE', ckey(cid, 'j'), pos, pos + n - 1, 'WITHSCORES')
        local ids = {}
        for k = 1, #page, 2 do ids[#ids + 1] = page[k] end
        if #ids == 0 then
            at_end = true
            break
        end
        local recs = redis.call('HMGET', 'jd:evr', unpack(ids))
        for k = 1, #ids do
            local st = record_stage(recs[k])
            for i = #need, 1, -1 do
                if st >= need[i] then
                    set_entry(cid, need[i], page[2 * k])
                    table.remove(need, i)
                end
            end
            if #need == 0 then break end
        end
        pos = pos + #ids
        used = used + #ids
        if #ids < n then at_end = true end
    end
    if #need > 0 and not at_end then
        redis.call('HSET', 'jd:ret:cur', 'need', table.concat(need, ','), 'pos', pos)
        return math.max(used, 1)
    end
    redis.call('DEL', 'jd:ret:cur')
    return used + CONTACT_COST + finish(cid)
end

-- Takes up the next contact the scan found, if it still has old events. Returns the work.
local function begin(cid)
    local live = live_contact(cid)
    if not live then return 1 end
    local first = redis.call('ZRANGE', ckey(live, 'j'), 0, 0, 'WITHSCORES')
    if #first == 0 or tonumber(first[2]) >= cutoff then return 1 end
    start(live, false)
    return CONTACT_COST
end

-- One SCAN step: the contacts among the keys it visits whose first event is older than
-- the cutoff. Returns the work.
local function scan_step()
    local r = redis.call('SCAN', cursor, 'MATCH', 'jd:c:c_*:j', 'COUNT', scan_keys)
    cursor = r[1]
    local found = {}
    for _, key in ipairs(r[2]) do
        local cid = string.sub(key, 6, -3)
        if is_contact_id(cid) then
            local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
            if #first > 0 and tonumber(first[2]) < cutoff then table.insert(found, cid) end
        end
    end
    if #found > 0 then redis.call('RPUSH', 'jd:ret:todo', unpack(found)) end
    if cursor == '0' then cursor = 'end' end
    redis.call('HSET', 'jd:ret', 'cursor', cursor)
    return math.max(#r[2], 1)
end

local used, scanned = 0, false
while used < budget do
    if redis.call('EXISTS', 'jd:ret:cur') == 1 then
        used = used + work(budget - used)
    else
        local cid = redis.call('LPOP', 'jd:ret:todo')
        if cid then
            used = used + begin(cid)
        elseif cursor ~= 'end' and not scanned then
            scanned = true
            used = used + scan_step()
        else
            break
        end
    end
end

redis.call('HINCRBY', 'jd:ret', 'removed', removed)
redis.call('HINCRBY', 'jd:ret', 'contacts', dropped)
local totals = redis.call('HMGET', 'jd:ret', 'removed', 'contacts')
if cursor == 'end' and redis.call('EXISTS', 'jd:ret:cur', 'jd:ret:todo') == 0 then
    redis.call('HDEL', 'jd:ret', 'cursor')
    redis.call('HSET', 'jd:ret', 'done', now)
    return {'done', tonumber(totals[1]), tonumber(totals[2]), now - started}
end
return {'more', tonumber(totals[1]), tonumber(totals[2]), 0}
