-- GET hit on one key: the URL's path (e.g. /api/v1/cache/bench:hit, preloaded by bench/run.sh),
-- or the path given as the first script argument. No request() function, so wrk sends one
-- precomputed request: the cheapest possible client.
--   wrk -t1 -c50 -d10s -s bench/wrk/get_hit.lua http://127.0.0.1:18080/api/v1/cache/bench:hit
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

function init(args)
  if args[1] then
    wrk.path = args[1]
  end
end

done = common.done
