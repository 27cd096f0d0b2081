-- wrk script for POST /api/v1/orders: two distinct products, one unit each.
--
-- Environment (set by bench/run.py):
--   BENCH_TOKEN       an access token of the customer who places the orders
--   BENCH_POOL_FIRST  the products bought are drawn from ids FIRST..LAST,
--   BENCH_POOL_LAST   which the seed stocks so deep that no run exhausts them
--   BENCH_NONCE       makes every Idempotency-Key of this run unique
--
-- Every request carries a fresh Idempotency-Key, as a careful client's would, so
-- the key bookkeeping is part of the cost. Statuses are counted per thread and
-- summed in done(): run.py checks that the number of 201s equals the orders the
-- database gained, and that the stock taken equals the units sold.

dofile("summary.lua") -- report_json()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  token = os.getenv("BENCH_TOKEN")
  first = tonumber(os.getenv("BENCH_POOL_FIRST"))
  last = tonumber(os.getenv("BENCH_POOL_LAST"))
  nonce = os.getenv("BENCH_NONCE")
  counter = 0
  statuses = {}
  math.randomseed(os.time() * 100 + thread_id)
end

function request()
  counter = counter + 1
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
end

done = function(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local members = {}
  for status, count in pairs(totals) do
    table.insert(members, string.format('"%d":%d', status, count))
  end
  local extra = '"statuses":{' .. table.concat(members, ",") .. "}"
  io.write("BENCH_JSON " .. report_json(summary, latency, extra) .. "\n")
end
