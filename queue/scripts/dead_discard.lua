-- dead_discard.lua: removes the given dead letters from the dead-letter stream for good
-- (DELETE /v1/dead/<id>; an erasure deleting a person's dead letters). Each removed
-- entry's bytes stop counting against its source's cap by the rule replay.lua uses (the
-- stored entry's field names and values, LREM from the source's list, HINCRBY -bytes), so
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
            local f = e[2]
            local bytes, source, reason = 0, ARGV[2], ''
            for k = 1, #f, 2 do
                bytes = bytes + #f[k] + #f[k + 1]
                if f[k] == 'src' then source = f[k + 1] end
                if f[k] == 'reason' then reason = f[k + 1] end
            end
            redis.call('XDEL', KEYS[1], e[1])
            if redis.call('LREM', ARGV[1] .. source, 1, e[1] .. ' ' .. bytes) == 1 then
                redis.call('HINCRBY', KEYS[2], source, -bytes)
            end
            table.insert(removed, {e[1], source, reason})
        end
    end
end
return removed
