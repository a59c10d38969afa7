-- replay.lua: puts dead-lettered webhooks back into the raw stream after a fix (DESIGN §8:
-- poison events "can be replayed after a fix"). Each entry gets its original fields back
-- (the dead-letter bookkeeping fields are dropped) and a fresh delivery count; one that
-- still fails comes back to the dead-letter stream with its new reason. Each replayed
-- entry's bytes stop counting against its source's cap (dead.lua's accounting); an entry
-- an operator added by hand was never counted and is not uncounted.
--
-- KEYS[1] raw stream   KEYS[2] dead-letter stream   KEYS[3] dead-letter bytes per source
-- ARGV[1] how many at most   ARGV[2] prefix of the per-source lists of dead letters
-- ARGV[3] the source of an entry that names none
-- Returns the number of entries replayed.
local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', tonumber(ARGV[1]))
local skip = {entry = true, reason = true, deliveries = true}
for _, e in ipairs(entries) do
    local args = {'XADD', KEYS[1], '*'}
    local f = e[2]
    local bytes, source = 0, ARGV[3]
    for i = 1, #f, 2 do
        bytes = bytes + #f[i] + #f[i + 1]
        if f[i] == 'src' then source = f[i + 1] end
        if not skip[f[i]] then
            table.insert(args, f[i])
            table.insert(args, f[i + 1])
        end
    end
    if #args > 3 then redis.call(unpack(args)) end
    redis.call('XDEL', KEYS[2], e[1])
    if redis.call('LREM', ARGV[2] .. source, 1, e[1] .. ' ' .. bytes) == 1 then
        redis.call('HINCRBY', KEYS[3], source, -bytes)
    end
end
return #entries
