-- A fixed GET (list, filter): wrk sends the pre-built request, the cheapest path.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
