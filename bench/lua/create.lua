-- POST a new post of about 170 bytes; every body differs so nothing can be cached.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local statuses = {"draft", "published", "archived"}
local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"title":"Bench post %07d from thread %d","body":"Written by the benchmark to ' ..
    'measure a validated insert.","author":"author-%03d",' ..
    '"status":"%s","views":%d}',
    n, thread_id or 1, n % 200, statuses[n % 3 + 1], n % 1001)
  return wrk.format(nil, nil, nil, body)
end
