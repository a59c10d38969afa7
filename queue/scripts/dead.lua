-- dead.lua: moves a raw entry that cannot be applied to the dead-letter stream, with the
-- reason, and acknowledges it, in one step, so it is neither lost nor applied twice. The
-- entry keeps every field, so it can be replayed after a fix.
--
-- The dead letters are bounded in bytes per source (the field names and values of each
-- dead entry), counted in KEYS[3] in this same step: when a source's would pass its cap,
-- the oldest of THAT source go, never another source's, so a flood of poison through one
-- door cannot push out a payment dead-lettered by another. The newest entry always stays
-- (the latest failure is the one an operator needs), and the reply says how many went,
-- so the loss is counted and logged, never silent.
--
-- KEYS[1] raw stream   KEYS[2] dead-letter stream   KEYS[3] bytes per source (hash)
-- KEYS[4] this source's dead letters, oldest first: a list of "<dead id> <bytes>"
-- ARGV[1] group  ARGV[2] entry id  ARGV[3] reason ("" = the last apply error recorded)
-- ARGV[4] deliveries   ARGV[5] source   ARGV[6] the source's cap in bytes
-- ARGV[7..] the entry's field/value pairs
-- Returns how many older dead letters of the source were dropped.
-- An entry no longer in the raw stream was removed on purpose while a worker held it (an
-- erasure took the person's webhooks out, daemon/erase.c): it must not come back here.
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
    redis.call('HDEL', 'jd:lasterr', ARGV[2])
    return 0
end
local reason = ARGV[3]
if reason == '' then
    reason = redis.call('HGET', 'jd:lasterr', ARGV[2]) or 'failed repeatedly'
end
local args = {'XADD', KEYS[2], '*', 'entry', ARGV[2], 'reason', reason, 'deliveries', ARGV[4]}
for i = 7, #ARGV do table.insert(args, ARGV[i]) end
-- replay.lua sums the same items of the stored entry: keep the two in step.
local bytes = 0
for i = 4, #args do bytes = bytes + #args[i] end
local id = redis.call(unpack(args))
redis.call('RPUSH', KEYS[4], id .. ' ' .. bytes)
local total = redis.call('HINCRBY', KEYS[3], ARGV[5], bytes)
local cap = tonumber(ARGV[6])
local dropped = 0
while total > cap and redis.call('LLEN', KEYS[4]) > 1 do
    local oldest = redis.call('LPOP', KEYS[4])
    local old_id, old_bytes = string.match(oldest, '^(%S+) (%d+)$')
    if old_id then
        redis.call('XDEL', KEYS[2], old_id)
        total = redis.call('HINCRBY', KEYS[3], ARGV[5], -tonumber(old_bytes))
    end
    dropped = dropped + 1
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', 'jd:lasterr', ARGV[2])
return dropped
