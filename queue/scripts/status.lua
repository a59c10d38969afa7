-- status.lua: queue figures for /v1/status and the tests that wait for the worker.
-- KEYS[1] raw stream  KEYS[2] dead-letter stream  ARGV[1] group
local pending = 0
local ok, r = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if ok and type(r) == 'table' then pending = r[1] end
return {redis.call('XLEN', KEYS[1]), pending, redis.call('XLEN', KEYS[2])}
