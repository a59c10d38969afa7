-- wrk script: posts pre-signed Stripe webhooks (jdsim --emit-wrk FILE), one after the
-- other, cycling. Each line of FILE is "<Stripe-Signature value>\t<body>".
-- usage: wrk ... -s bench/wrk_replay.lua http://127.0.0.1:PORT -- /hooks/stripe FILE
local reqs, n, i = {}, 0, 0

function init(args)
    local path, file = args[1], args[2]
    for line in io.lines(file) do
        local sig, body = line:match("^([^\t]*)\t(.*)$")
        if sig then
            n = n + 1
            reqs[n] = wrk.format("POST", path,
                {["Stripe-Signature"] = sig, ["Content-Type"] = "application/json"}, body)
        end
    end
    assert(n > 0, "no requests in " .. file)
end

function request()
    i = i + 1
    if i > n then i = 1 end
    return reqs[i]
end
