-- Used by every wrk run of bench/run.py: print wrk's summary as one JSON line.
--
-- wrk's human-readable output changes between versions and rounds its numbers;
-- the summary it hands to done() does not. Latencies are in microseconds.
-- Other scripts load this file with dofile("summary.lua") (wrk runs in bench/),
-- override done(), and pass their own fields to report_json as `extra`, a string
-- of JSON members. A global function, not a returned module: wrk leaves what the
-- main script returns on its Lua stack, which corrupts the summary done() gets.

-- Every thread gets a number, thread_id (1, 2, ...), for seeds and unique keys;
-- `threads` keeps them all for done() to sum what each counted.
threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function report_json(summary, latency, extra)
  local e = summary.errors
  return string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}%s}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    extra and ("," .. extra) or "")
end

done = function(summary, latency, requests)
  io.write("BENCH_JSON " .. report_json(summary, latency) .. "\n")
end

