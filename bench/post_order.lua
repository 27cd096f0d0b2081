-- wrk script for POST /api/v1/orders: two distinct products, one unit each.
--
-- Environment (set by bench/run.py):
--   BENCH_TOKEN           an access token of the customer who places the orders
--   BENCH_POOL_FIRST      the products bought are drawn from ids FIRST..LAST,
--   BENCH_POOL_LAST       which the seed stocks so deep that no run exhausts them
--   BENCH_NONCE           makes every Idempotency-Key of this run unique
--   BENCH_ORDER_SECONDS   place orders for this long, then send nothing more
--
-- Every request carries a fresh Idempotency-Key, as a careful client's would, so
-- the key bookkeeping is part of the cost.
--
-- The stock check needs every order the server takes to be one whose answer wrk
-- saw. When wrk stops it drops the requests in flight, which the server still
-- completes; so after BENCH_ORDER_SECONDS each connection sends nothing more
-- (delay() holds it for a minute) and wrk, started for a few seconds longer,
-- receives every answer. done() reports the orders sent and answered, the
-- statuses, and the time from the first request to the last answer, which
-- run.py uses for the rate instead of wrk's duration (that includes the idle tail).

dofile("summary.lua") -- setup() and report_json()
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

function init(args)
  token = os.getenv("BENCH_TOKEN")
  first = tonumber(os.getenv("BENCH_POOL_FIRST"))
  last = tonumber(os.getenv("BENCH_POOL_LAST"))
  nonce = os.getenv("BENCH_NONCE")
  stop_at = now() + tonumber(os.getenv("BENCH_ORDER_SECONDS") or "1e9")
  counter = 0
  answered = 0
  started = nil
  last_answer = 0
  statuses = {}
  math.randomseed(os.time() * 100 + thread_id)
end

function delay()
  if now() >= stop_at then return 60000 end -- past the end: hold the connection idle
  return 0
end

function request()
  counter = counter + 1
  started = started or now()
  local a = math.random(first, last)
  local b = math.random(first, last - 1)
  if b >= a then b = b + 1 end -- distinct from a
  local body = string.format(
    '{"items":[{"product_id":%d,"quantity":1},{"product_id":%d,"quantity":1}]}', a, b)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("%s-%d-%d", nonce, thread_id, counter),
  }
  return wrk.format("POST", wrk.path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  last_answer = now()
end

done = function(summary, latency, requests)
  local totals, sent, got, first_request, last_seen = {}, 0, 0, nil, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
    sent = sent + thread:get("counter")
    got = got + thread:get("answered")
    local began = thread:get("started")
    if began and (first_request == nil or began < first_request) then first_request = began end
    last_seen = math.max(last_seen, thread:get("last_answer"))
  end
  local members = {}
  for status, count in pairs(totals) do
    table.insert(members, string.format('"%d":%d', status, count))
  end
  -- wrk calls request() once on the first thread to check the script, before the
  -- run starts: that one was never sent.
  sent = sent - 1
  local extra = string.format(
    '"statuses":{%s},"orders":{"sent":%d,"answered":%d,"seconds":%.6f}',
    table.concat(members, ","), sent, got, first_request and (last_seen - first_request) or 0)
  io.write("BENCH_JSON " .. report_json(summary, latency, extra) .. "\n")
end
