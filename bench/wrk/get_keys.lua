-- GET over a key space: args KEYS [uniform|zipf] [S]. Keys are key:000000000000.. as written by
-- `cache-client bench --preload-only --keys KEYS` (bench/run.sh preloads them).
--   wrk -t1 -c50 -d10s -s bench/wrk/get_keys.lua http://127.0.0.1:18080 -- 100000 zipf 0.99
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
local next_key

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  next_key = common.sampler(tonumber(args[1]) or 100000, args[2], tonumber(args[3]))
end

function request()
  return wrk.format("GET", "/api/v1/cache/" .. common.key(next_key()))
end

done = common.done
