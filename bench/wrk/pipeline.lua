-- Pipelined GETs: args [DEPTH] [PATH]: every write carries DEPTH (default 16) GETs of PATH
-- (default: the URL's path). wrk counts each answer as a request, but times only one per batch,
-- so quote throughput from this script and latency from unpipelined or fixed-rate runs.
--   wrk -t1 -c50 -d10s -s bench/wrk/pipeline.lua http://127.0.0.1:18080/api/v1/cache/bench:hit -- 16
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format("GET", args[2] or wrk.path)
  batch = string.rep(one, depth)
end

function request()
  return batch
end

done = common.done
