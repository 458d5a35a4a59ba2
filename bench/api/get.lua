-- SPDX-License-Identifier: MIT
-- wrk script of bench/api: GET /v1/pod/peers with a pod token.
--   wrk ... -s get.lua URL -- TOKEN [PATH]
-- done() prints "@@ name value" lines that bench/api/run.sh reads.

local req

function init(args)
   local path = args[2] or "/v1/pod/peers"
   req = wrk.format("GET", path, {
      ["Host"] = wrk.headers["Host"] or wrk.host,
      ["Authorization"] = "Bearer " .. args[1],
   })
end

function request()
   return req
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("@@ requests %d\n", summary.requests))
   io.write(string.format("@@ seconds %.6f\n", summary.duration / 1e6))
   io.write(string.format("@@ rps %.1f\n", summary.requests / (summary.duration / 1e6)))
   io.write(string.format("@@ errors %d\n",
      e.connect + e.read + e.write + e.status + e.timeout))
   io.write(string.format("@@ non2xx %d\n", e.status))
   for _, p in ipairs({ 50, 90, 99 }) do
      io.write(string.format("@@ p%d_ms %.3f\n", p, latency:percentile(p) / 1000))
   end
   io.write(string.format("@@ mean_ms %.3f\n", latency.mean / 1000))
   io.write(string.format("@@ max_ms %.3f\n", latency.max / 1000))
end
