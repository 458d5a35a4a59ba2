-- SPDX-License-Identifier: MIT
-- wrk script of bench/api: POST /v1/pod/peers, a new peer per request: a
-- unique name and a public key from KEYS_FILE (made by `fill keys`), with
-- the pod tokens of TOKENS_FILE (made by `fill db`), PER_POD peers per pod
-- (a /24 pod holds 253), so that no pod fills up. Thread t of T uses the
-- tokens FIRST + t, FIRST + t + T, ... (1-based lines); a pod is never
-- reused across runs: done() prints the first unused line ("@@ next_token").
--   wrk -t T ... -s post.lua URL -- KEYS_FILE TOKENS_FILE PER_POD T FIRST

local threads = {}
local nthreads_seen = 0

function setup(thread)
   thread:set("tid", nthreads_seen)
   nthreads_seen = nthreads_seen + 1
   table.insert(threads, thread)
end

local keys, tokens = {}, {}
-- globals, read by done() in the main state through thread:get()
n = 0      -- requests made by this thread
per_pod, nthreads, first = 0, 1, 1

local function lines(path, into)
   local f = assert(io.open(path, "r"))
   for l in f:lines() do
      if #l > 0 then into[#into + 1] = l end
   end
   f:close()
end

function init(args)
   lines(args[1], keys)
   lines(args[2], tokens)
   per_pod = tonumber(args[3])
   nthreads = tonumber(args[4])
   first = tonumber(args[5])
end

function request()
   local k = math.floor(n / per_pod)
   local idx = first + tid + nthreads * k
   local token = tokens[idx]
   if not token then
      -- out of pods: a deliberately bad token makes every further request
      -- fail (401), which run.sh reports instead of a wrong figure
      token = "exhausted"
   end
   local key = keys[(tid * 7919 + n) % #keys + 1]
   local body = string.format('{"name":"b%d-%d","public_key":"%s"}', tid, n, key)
   n = n + 1
   return wrk.format("POST", "/v1/pod/peers", {
      ["Host"] = wrk.headers["Host"] or wrk.host,
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }, body)
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
   local next_token = 0
   for _, t in ipairs(threads) do
      local tn, tt = t:get("n"), t:get("tid")
      local fst, nt = t:get("first"), t:get("nthreads")
      -- pods this thread touched: 0 .. floor((tn - 1) / per_pod)
      if tn > 0 then
         local last = fst + tt + nt * math.floor((tn - 1) / t:get("per_pod"))
         if last + 1 > next_token then next_token = last + 1 end
      end
   end
   io.write(string.format("@@ next_token %d\n", next_token))
end
