-- dead_discard.lua: removes the given dead letters from the dead-letter stream for good
-- (DELETE /v1/dead/<id>; an erasure deleting a person's dead letters). Each removed
-- entry's bytes stop counting against its source's cap by the rule replay.lua uses (the
-- prelude's dead_remove: the stored entry's field names and values, LREM from the
-- source's list, HINCRBY -bytes), so
-- dead.lua's per-source accounting stays exact; an entry an operator added by hand was
-- never counted and is not uncounted. Ids that are not in the stream are skipped.
--
-- KEYS[1] dead-letter stream   KEYS[2] dead-letter bytes per source (hash)
-- ARGV[1] prefix of the per-source lists of dead letters
-- ARGV[2] the source of an entry that names none
-- ARGV[3..] dead-letter ids (at most a few hundred per call: one XRANGE each)
-- Returns one [id, source, reason] per dead letter removed, in the order given (never the
-- body: the caller logs these).
local removed = {}
for i = 3, #ARGV do
    local id = ARGV[i]
    -- An id that is not a stream id would make XRANGE fail and abort the whole call.
    if string.match(id, '^%d+%-%d+$') then
        local e = redis.call('XRANGE', KEYS[1], id, id)[1]
        if e then
            local source, reason, bytes = dead_fields(e[2], ARGV[2])
            dead_remove(KEYS[1], KEYS[2], ARGV[1], e[1], source, bytes)
            table.insert(removed, {e[1], source, reason})
        end
    end
end
return removed
