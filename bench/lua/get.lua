-- GET one record by an id drawn at random from the data set.
-- BENCH_PATH holds "{id}" where the id goes; BENCH_IDS is the file of ids, one a line.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if line ~= "" then ids[#ids + 1] = line end
end
local prefix, suffix = string.match(os.getenv("BENCH_PATH"), "^(.-){id}(.*)$")

function init(args)
  math.randomseed(1000 + (thread_id or 1))
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. suffix)
end
