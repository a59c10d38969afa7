-- wrk script: GET /v1/journey for a list of contacts (jdfill fill --paths FILE), cycling.
-- usage: wrk ... -s bench/wrk_query.lua http://127.0.0.1:PORT -- TOKEN FILE
local reqs, n, i = {}, 0, 0

function init(args)
    local token, file = args[1], args[2]
    for path in io.lines(file) do
        n = n + 1
        reqs[n] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
    end
    assert(n > 0, "no paths in " .. file)
end

function request()
    i = i + 1
    if i > n then i = 1 end
    return reqs[i]
end
