-- dead.lua: moves a raw entry that cannot be applied to the dead-letter stream, with the
-- reason, and acknowledges it, in one step, so it is neither lost nor applied twice. The
-- entry keeps every field, so it can be replayed after a fix.
--
-- KEYS[1] raw stream   KEYS[2] dead-letter stream
-- ARGV[1] group  ARGV[2] entry id  ARGV[3] reason ("" = the last apply error recorded)
-- ARGV[4] deliveries   ARGV[5..] the entry's field/value pairs
local reason = ARGV[3]
if reason == '' then
    reason = redis.call('HGET', 'jd:lasterr', ARGV[2]) or 'failed repeatedly'
end
local args = {'XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'entry', ARGV[2], 'reason', reason,
    'deliveries', ARGV[4]}
for i = 5, #ARGV do table.insert(args, ARGV[i]) end
redis.call(unpack(args))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', 'jd:lasterr', ARGV[2])
return 1
