-- prelude.lua: prepended to every script at build time (cmake/Embed.cmake), so what all
-- scripts share is written once. Keep it small: Redis receives it with every EVAL, and
-- its locals count against Lua's limit of 200 per function in every script.
--
-- The jd: key layout, every key the scripts and the daemon use (one home for it):
--   jd:raw       stream  raw webhooks: src, type, recv, h:<header>..., body (queue/stream.c)
--                        consumer group "jd"; an entry is deleted once applied
--   jd:dead      stream  dead letters: entry, reason, deliveries, then the raw fields
--   jd:dead:bytes hash   source -> bytes of its dead letters (dead.lua's cap, per source)
--   jd:dead:ids:<source> list  that source's dead letters, oldest first: "<dead id> <bytes>"
--   jd:lasterr   hash    raw entry id -> its last apply or look-up error (dead.lua's reason)
--   jd:ev        hash    event id -> canonical JSON (also the dedup set)
--   jd:gone:<id> string  erased events' ids from before erase.lua kept tombstones for good
--                        (read by apply.lua until they expire; no longer written)
--   jd:erased    hash    erasure tombstones: salted SHA-1 of "\t" type "\t" value or of
--                        "\n" event id -> erasure time, ms (erase.lua's header; for good)
--   jd:salt      string  the install's random salt for jd:erased, set once
--   jd:evo       set     ids of the events that came through an open door (DESIGN §2b)
--   jd:idx       hash    "type\tvalue" -> contact id
--   jd:pn        hash    "type\tvalue" -> "<v>\t<at_ms>\t<name>": the person's name an event
--                        with that identity gave (apply.lua keep_name; the drill-downs)
--   jd:alias     hash    old contact id -> live contact id (merged or renamed)
--   jd:c:<cid>   hash    stage (rank), u:<unique type> -> value, e<rank>: stage entry times,
--                        v = 1 once it holds a person's identity from a verified door,
--                        o: at_ms of its latest open-door event (DESIGN §2b, apply.lua),
--                        nc: 1 when it refused advertising uploads (consent_field), else 0
--   jd:c:<cid>:ids  set   "type\tvalue"
--   jd:c:<cid>:j    zset  event id scored by at_ms (ties order by id: journey order)
--   jd:c:<cid>:a    zset  the contact's touches and conversions (what attribution reads)
--   jd:c:<cid>:conf list  conflict records (JSON)
--   jd:c:<cid>:cp   set   contacts this one has conflicts with
--   jd:c:<cid>:mf   set   contact ids merged into this one
-- Report indexes (DESIGN §6, §6b), so reports never scan every journey:
--   jd:evr       hash    event id -> compact report record (built by the daemon)
--   jd:evc       hash    conversion event id -> contact id (readers look up conversions only;
--                        a merge also writes the moved touches, in the same one call)
--   jd:conv      zset    conversion event ids scored by at_ms
--   jd:st:<rank> zset    contact ids scored by when they entered that stage
--   jd:sla:f     hash    lead contact id -> what the SLA reads of it (apply.lua's SLA block;
--                        erase.lua and retention.lua delete the entries they change)
--   jd:spend     hash    "YYYY-MM-DD\tsource\tcampaign" -> "minor\tcurrency" (POST /v1/spend);
--                        a row with a campaign_id: "YYYY-MM-DD\tsource\t\tid" ->
--                        "minor\tcurrency\tcampaign name or empty"
--   jd:campaigns hash    "<platform>:<id>" -> campaign name learned (daemon/campaigns.h)
--   jd:spend:d   zset    those keys scored by their day's local midnight (ms)
-- Retention (retention.lua, config key `retention`): the sweep's state, so a restart resumes
--   jd:ret       hash    cursor (SCAN cursor of the pass; absent between passes), started,
--                        removed, contacts (the pass's counts), done (when the last pass ended)
--   jd:ret:todo  list    contacts found with events older than the cutoff, still to do
--   jd:ret:cur   hash    the contact in hand: cid, phase, need (stage entries to find), pos
--   jd:ret:cutoff string the cutoff (ms); apply.lua refuses older events; expires unrefreshed
-- Per-source delivery counts (GET /v1/sources; written by sources.lua only):
--   jd:src:h:<hour> hash "<source>\taccepted" | "<source>\trefused:<reason>" -> count in that
--                        hour (ms / 3600000); expires 8 days after its last write
--   jd:src:last  zset    source -> ms of its latest accepted delivery
-- The outbox (issue 14, daemon/outbox.c): what must go out, decided by apply.lua
--   jd:out       stream  messages: d destination, k kind, x dedup key, c contact, e event,
--                        f facts (JSON); consumer group "out"; deleted once done
--   jd:out:dead  stream  messages that failed for good: entry, reason, then their fields
--   jd:out:ev    hash    event id -> its pending jd:out entry ids (erase.lua drops them)
--   jd:sent      hash    event id -> JSON list of what was sent about it, with the result
--   jd:sla:due   zset    contacts whose lead waits for a response, scored by the lead's at
-- Written only by apply.lua, erase.lua, retention.lua, sources.lua, out_done.lua,
-- out_sla.lua and report.lua's spend_set and names_set; the daemon reads the report
-- indexes, jd:campaigns and the journeys directly (daemon/api_reports.c,
-- report_attribution.c) and all the rest through journey.lua, report.lua and status.lua.

-- Stage ranks, generated from connectors/stage.h (the one stage table of the tree).
local STAGE_RANK = {JD_STAGE_RANK}
local NSTAGES = JD_NSTAGES

-- Byte-wise string order: Lua's `<` uses strcoll, which follows the server's locale.
local function str_lt(a, b)
    local n = math.min(#a, #b)
    for i = 1, n do
        local x, y = string.byte(a, i), string.byte(b, i)
        if x ~= y then return x < y end
    end
    return #a < #b
end

-- The live contact a contact id names: itself, or the survivor of the merge or rename
-- that retired it; nil when there is none (unknown or erased).
-- A contact id is 'c_' and 20 lowercase hex digits (cid_for in apply.lua). Ids from the
-- API reach key names: 'c_x:j' would name another key of the contact (the daemon checks
-- too; this is the scripts' own guard).
local function is_contact_id(cid)
    return type(cid) == 'string' and #cid == 22 and string.match(cid, '^c_[0-9a-f]+$') ~= nil
end

local function live_contact(cid)
    if not is_contact_id(cid) then return nil end
    if redis.call('EXISTS', 'jd:c:' .. cid) == 0 then
        cid = redis.call('HGET', 'jd:alias', cid)
    end
    if not cid or redis.call('EXISTS', 'jd:c:' .. cid) == 0 then return nil end
    return cid
end


-- ---- dead letters: what dead_list.lua, replay.lua and dead_discard.lua share ----

-- Whether stream id a ("<ms>" or "<ms>-<seq>") comes after b ("<ms>-<seq>").
local function later(a, b)
    local am, as = string.match(a, '^(%d+)%-?(%d*)$')
    local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
    if not am or not bm then return false end
    am, bm = tonumber(am), tonumber(bm)
    if am ~= bm then return am > bm end
    return (as == '' and math.huge or tonumber(as)) > tonumber(bs)
end

-- One slice of a selection of the dead-letter stream `key` as dead_list.lua and replay.lua
-- take it: ARGV[9..] the ids (each read once: a replay must not add an entry twice), else
-- at most ARGV[3] entries from ARGV[1] to ARGV[2], whose end is held to the stream's last
-- id. Returns the entries and that end; nil when the stream is empty.
local function dead_slice(key)
    local last = ARGV[2]
    if #ARGV >= 9 then
        local entries, seen = {}, {}
        for i = 9, #ARGV do
            if not seen[ARGV[i]] and string.match(ARGV[i], '^%d+%-%d+$') then
                seen[ARGV[i]] = true
                local e = redis.call('XRANGE', key, ARGV[i], ARGV[i])[1]
                if e then table.insert(entries, e) end
            end
        end
        return entries, last
    end
    local tail = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
    if not tail then return nil end
    if last == '+' or later(last, tail[1]) then last = tail[1] end
    return redis.call('XRANGE', key, ARGV[1], last, 'COUNT', tonumber(ARGV[3])), last
end

-- Where the next slice starts: `cursor` (the entry at which `limit` was reached, or ''),
-- or after the last entry of a range slice that read its full ARGV[3] entries.
local function dead_cursor(entries, n, limit, cursor)
    if n < limit and #ARGV < 9 and #entries >= tonumber(ARGV[3]) then
        return entries[#entries][1]
    end
    return cursor
end

-- A dead letter's fields f: its source (`none` when it names none), its reason ('' when
-- none) and its size as dead.lua counted it (the field names and values).
local function dead_fields(f, none)
    local source, reason, bytes = none, '', 0
    for k = 1, #f, 2 do
        bytes = bytes + #f[k] + #f[k + 1]
        if f[k] == 'src' then source = f[k + 1] end
        if f[k] == 'reason' then reason = f[k + 1] end
    end
    return source, reason, bytes
end

-- Whether a dead letter's source and reason pass the filter ARGV[5] (source) and ARGV[6]
-- (plain substring of the reason), '' = any.
local function dead_selected(source, reason)
    return (ARGV[5] == '' or source == ARGV[5]) and
        (ARGV[6] == '' or string.find(reason, ARGV[6], 1, true) ~= nil)
end

-- Removes dead letter id from the stream `key` and stops counting its bytes against its
-- source's cap (`counts` the bytes per source, `prefix` the per-source lists): an entry
-- an operator added by hand was never counted and is not uncounted.
local function dead_remove(key, counts, prefix, id, source, bytes)
    redis.call('XDEL', key, id)
    if redis.call('LREM', prefix .. source, 1, id .. ' ' .. bytes) == 1 then
        redis.call('HINCRBY', counts, source, -bytes)
    end
end
