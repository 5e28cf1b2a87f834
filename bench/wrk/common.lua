-- Shared by the wrk scripts of bench/: a done() that prints one machine-readable line,
--   WRK_JSON {"requests":N,"duration_s":S,"rps":R,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,
--             "max_us":..,"errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..}}
-- which bench/run.sh parses. Load it with dofile(script_dir() .. "common.lua").
local common = {}

-- Key i of the key space, as cache-client bench names them: "key:" + 12 digits (16 bytes).
function common.key(i)
  return string.format("key:%012d", i)
end

-- Zipf(s) over ranks 1..n by inverse CDF (table built once per thread; binary search per draw).
function common.zipf_sampler(n, s)
  local cdf, total = {}, 0
  for k = 1, n do
    total = total + 1 / (k ^ s)
    cdf[k] = total
  end
  return function()
    local u = math.random() * total
    local lo, hi = 1, n
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return lo
  end
end

-- A key-index sampler: "uniform" (default) or "zipf" with exponent s (default 0.99).
function common.sampler(n, dist, s)
  if dist == "zipf" then
    local z = common.zipf_sampler(n, s or 0.99)
    return function() return z() - 1 end
  end
  return function() return math.random(0, n - 1) end
end

function common.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end

return common
