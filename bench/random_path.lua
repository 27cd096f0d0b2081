-- wrk script: every request asks for a path drawn at random, with a fixed seed.
--
-- Environment (set by bench/run.py):
--   BENCH_PATTERN  the path, with one %d for the value drawn, e.g. /api/v1/products/%d
--   BENCH_FIRST    values are drawn from BENCH_COUNT consecutive ones from BENCH_FIRST,
--   BENCH_COUNT
--   BENCH_GAP      ... stepping over one value after every BENCH_GAP (0: none): the
--                  seed soft-deletes every product whose id ends in 99, so with
--                  FIRST a multiple of 100 and GAP 99 only live products are drawn
--   BENCH_SEED     the random seed (each wrk thread adds its number), so every run
--                  asks for the same sequence and a cache sees the same spread
--
-- Drawn uniformly: with 10,000 hot products a cache holds all of them after a
-- warm-up, and what is measured is the cost of a hit spread over many keys.

dofile("summary.lua") -- setup(), report_json() and done()
function init(args)
  pattern = os.getenv("BENCH_PATTERN")
  first = tonumber(os.getenv("BENCH_FIRST"))
  count = tonumber(os.getenv("BENCH_COUNT"))
  gap = tonumber(os.getenv("BENCH_GAP") or "0")
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1") + thread_id)
end

function request()
  local k = math.random(0, count - 1)
  if gap > 0 then k = k + math.floor(k / gap) end
  return wrk.format("GET", string.format(pattern, first + k))
end
