-- status.lua: queue figures for /v1/status and the tests that wait for the worker.
-- KEYS[1] raw stream  KEYS[2] dead-letter stream  ARGV[1] group
-- The fourth figure is the id of the oldest raw entry ("" when none): applied entries are
-- deleted from the raw stream, so its time is when the oldest webhook still waiting came.
local pending = 0
local ok, r = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if ok and type(r) == 'table' then pending = r[1] end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = ''
if first[1] then oldest = first[1][1] end
return {redis.call('XLEN', KEYS[1]), pending, redis.call('XLEN', KEYS[2]), oldest}
