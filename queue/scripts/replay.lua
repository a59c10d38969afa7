-- replay.lua: puts dead-lettered webhooks back into the raw stream after a fix (DESIGN §8:
-- poison events "can be replayed after a fix"). Each entry gets its original fields back
-- (the dead-letter bookkeeping fields are dropped) and a fresh delivery count; one that
-- still fails comes back to the dead-letter stream with its new reason.
--
-- KEYS[1] raw stream   KEYS[2] dead-letter stream   ARGV[1] how many at most
-- Returns the number of entries replayed.
local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', tonumber(ARGV[1]))
local skip = {entry = true, reason = true, deliveries = true}
for _, e in ipairs(entries) do
    local args = {'XADD', KEYS[1], '*'}
    local f = e[2]
    for i = 1, #f, 2 do
        if not skip[f[i]] then
            table.insert(args, f[i])
            table.insert(args, f[i + 1])
        end
    end
    if #args > 3 then redis.call(unpack(args)) end
    redis.call('XDEL', KEYS[2], e[1])
end
return #entries
