-- One batch GET of KEYS keys per request: POST /api/v1/batch {"ops":[{"op":"get","key":..},..]}
-- over key:000000000000 .. key:(KEYS-1), the same body every time. Args: KEYS (default 100).
-- Keys per second = requests per second x KEYS (bench/batch.sh prints both).
--   wrk -t1 -c16 -d10s -s bench/wrk/batch_get.lua http://127.0.0.1:18700 -- 100
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
local body

function init(args)
  local n = tonumber(args[1]) or 100
  local ops = {}
  for i = 0, n - 1 do
    ops[#ops + 1] = '{"op":"get","key":"' .. common.key(i) .. '"}'
  end
  body = '{"ops":[' .. table.concat(ops, ",") .. ']}'
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  return wrk.format("POST", "/api/v1/batch", nil, body)
end

done = common.done
