-- SPDX-License-Identifier: Apache-2.0
-- lb_load.lua - wrk script for tests/e2e/lb.sh: POSTs one text to /classify
-- and counts, over all threads, the 2xx answers, the other statuses, and
-- which model answered (intents of the new model start with LB_NEW_PREFIX,
-- "v2_" unless set). wrk counts socket errors (connect, read, write, timeout)
-- itself; done() prints everything on one line:
--   LB requests=N ok=N non2xx=N new=N old=N connect=N read=N write=N timeout=N
wrk.method = "POST"
wrk.body = '{"text":"quiero reservar una mesa para dos personas"}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, non2xx, new, old = 0, 0, 0, 0
    prefix = '"intent":"' .. (os.getenv("LB_NEW_PREFIX") or "v2_")
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        return
    end
    ok = ok + 1
    if body:find(prefix, 1, true) then
        new = new + 1
    else
        old = old + 1
    end
end

function done(summary, latency, requests)
    local t = {ok = 0, non2xx = 0, new = 0, old = 0}
    for _, th in ipairs(threads) do
        for k, _ in pairs(t) do
            t[k] = t[k] + (th:get(k) or 0)
        end
    end
    local e = summary.errors
    io.write(string.format("LB requests=%d ok=%d non2xx=%d new=%d old=%d connect=%d read=%d " ..
                           "write=%d timeout=%d p99_ms=%.1f\n", summary.requests, t.ok,
                           t.non2xx, t.new, t.old, e.connect, e.read, e.write, e.timeout,
                           latency:percentile(99) / 1000))
end
