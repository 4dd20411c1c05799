-- POST one GraphQL query (BENCH_BODY, as JSON) to BENCH_PATH; the same body every time.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
