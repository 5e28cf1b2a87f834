-- PUT over a key space: args KEYS [VALUE_BYTES]. The stored value is a JSON string of
-- VALUE_BYTES bytes including its quotes (default 32), as `cache-client bench --value-size`.
--   wrk -t1 -c50 -d10s -s bench/wrk/put.lua http://127.0.0.1:18080 -- 100000 32
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
local next_key, body

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  next_key = common.sampler(tonumber(args[1]) or 100000, "uniform")
  local size = math.max(2, tonumber(args[2]) or 32)
  body = '{"value":"' .. string.rep("x", size - 2) .. '"}'
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  return wrk.format("PUT", "/api/v1/cache/" .. common.key(next_key()), nil, body)
end

done = common.done
