-- sources.lua: per-source delivery counts for GET /v1/sources (daemon/sources.c), in
-- hourly buckets so a window is a sum of at most 168 small hashes and old counts expire
-- by themselves.
--
-- ARGV[1] "add": ARGV[2] ttl seconds, ARGV[3] n, then n quads (hour, source, field, count)
--     with field "accepted" or "refused:<reason>", then (source, last accepted ms) pairs.
--     Adds each count to jd:src:h:<hour> "<source>\t<field>" (the hash expires ttl after
--     its last write) and raises jd:src:last's score of the source to the time given.
-- ARGV[1] "read": ARGV[2] the current hour, ARGV[3] hours of the short window (24),
--     ARGV[4] of the long one (168): {{"<source>\t<field>", short sum, long sum, ...},
--     {source, last ms, ...}}, each window ending with the current hour.
if ARGV[1] == 'add' then
    local n, p, touched = tonumber(ARGV[3]), 4, {}
    for _ = 1, n do
        local key = 'jd:src:h:' .. ARGV[p]
        redis.call('HINCRBY', key, ARGV[p + 1] .. '\t' .. ARGV[p + 2], ARGV[p + 3])
        touched[key] = true
        p = p + 4
    end
    for key, _ in pairs(touched) do redis.call('EXPIRE', key, ARGV[2]) end
    while p < #ARGV do
        redis.call('ZADD', 'jd:src:last', 'GT', ARGV[p + 1], ARGV[p])
        p = p + 2
    end
    return n
elseif ARGV[1] == 'read' then
    local now, short, long = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
    local sums, order = {}, {}
    for h = now - long + 1, now do
        local kv = redis.call('HGETALL', 'jd:src:h:' .. h)
        for i = 1, #kv, 2 do
            local s = sums[kv[i]]
            if not s then
                s = {0, 0}
                sums[kv[i]] = s
                table.insert(order, kv[i])
            end
            local v = tonumber(kv[i + 1]) or 0
            s[2] = s[2] + v
            if h > now - short then s[1] = s[1] + v end
        end
    end
    local out = {}
    for _, f in ipairs(order) do
        table.insert(out, f)
        table.insert(out, sums[f][1])
        table.insert(out, sums[f][2])
    end
    return {out, redis.call('ZRANGE', 'jd:src:last', 0, -1, 'WITHSCORES')}
end
return redis.error_reply('sources.lua: unknown mode')
