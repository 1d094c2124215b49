-- wrk script of the benchmarks' updates (deploy/bench.sh, deploy/bench-ab.sh):
-- PUT the URL's task with its priority in turn, so that every request
-- changes the task (and writes and logs its row). The caller passes the
-- Authorization header with -H.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, '{"priority":' .. (n % 3 + 1) .. '}')
end
