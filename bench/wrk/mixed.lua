-- Mixed GET/PUT over a key space: args KEYS [GET_PERCENT] [uniform|zipf] (default 90 % GET,
-- uniform keys, 32-byte values).
--   wrk -t1 -c50 -d10s -s bench/wrk/mixed.lua http://127.0.0.1:18080 -- 100000 90
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
local next_key, get_pct
local body = '{"value":"' .. string.rep("x", 30) .. '"}'

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  next_key = common.sampler(tonumber(args[1]) or 100000, args[3])
  get_pct = tonumber(args[2]) or 90
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local path = "/api/v1/cache/" .. common.key(next_key())
  if math.random(1, 100) <= get_pct then
    return wrk.format("GET", path)
  end
  return wrk.format("PUT", path, nil, body)
end

done = common.done
