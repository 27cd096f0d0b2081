"""The benchmark's bookkeeping, on made-up results: medians, the peer ratio, the stock check.

No server and no wrk: what bench/report.py computes from a results document,
and what bench/run.py and bench/seed.py decide before any request is sent.
"""

import argparse

import pytest

from bench import report
from bench.run import SCENARIOS, _variants, parse_settings
from bench.seed import Size, fixtures, is_deleted


def _run(round_number: int, ratio: float, *, p99: float = 10.0, **extra) -> dict:
    return {
        "round": round_number,
        "rps": ratio * 1000,
        "baseline_rps": 1000.0,
        "ratio": ratio,
        "latency_ms": {"p50": p99 / 2, "p99": p99},
        "failed": 0,
        "requests": 100,
        "connections": 32,
        **extra,
    }


def _stock(holds: bool) -> dict:
    return {
        "orders_answered_201": 10,
        "orders_in_database": 10 if holds else 11,
        "in_flight_when_wrk_stopped": 0,
        "units_by_201s": 20,
        "stock_taken": 20 if holds else 22,
        "units_in_new_order_lines": 20 if holds else 22,
        "sold_outside_the_pool": [],
        "holds": holds,
    }


def _server(*runs: dict) -> dict:
    return {"available": True, "why": None, "probe_s": 0.01, "runs": list(runs)}


@pytest.fixture
def results() -> dict:
    """Three rounds of the point read (app cache on/off and two peers) and of POST /orders."""
    scenarios = [s for s in SCENARIOS if s.name in ("product", "order")]
    return {
        "started_at": "2026-12-04T20:00:00+00:00",
        "commit": "abc1234",
        "machine": {
            "cpus": 2, "cpu": "test", "kernel": "6", "python": "3.11", "wrk": "wrk 4",
            "load_average_at_start": 0.2, "load_average_at_end": 0.3,
        },
        "settings": {
            "products": 20000, "orders": 2000, "users": 1000, "set": "targets",
            "database": "sqlite", "duration_s": 5, "warmup_s": 1, "connections": 32,
            "wrk_threads": 2, "workers": 2, "rounds": 3, "hot_products": 10000, "full": True,
            "variants": {"cache_on": "API, cache on", "cache_off": "API, cache off"},
            "peers": {"fastapi_sync": "FastAPI sync", "fastapi_async": "FastAPI async"},
        },
        "scenarios": [
            {**s.__dict__, "sets": list(s.sets), "target_text": s.target_text()}
            for s in scenarios
        ],
        "seed": {"reused": True, "seconds": 0.1},
        "startup": {"samples_s": [1.0], "median_s": 1.0, "target_s": 1.5},
        "main": {
            "scenarios": {
                "product": {
                    "path": "/api/v1/products/1", "available": True, "why": None,
                    "servers": {
                        "cache_on": _server(_run(1, 0.9), _run(2, 0.6, p99=30), _run(3, 0.7)),
                        "cache_off": _server(_run(1, 0.4), _run(2, 0.3), _run(3, 0.5)),
                        "fastapi_sync": _server(_run(1, 0.3), _run(2, 0.4), _run(3, 0.2)),
                        "fastapi_async": _server(_run(1, 0.4), _run(2, 0.2), _run(3, 0.25)),
                    },
                },
                "order": {
                    "path": "/api/v1/orders", "available": True, "why": None,
                    "servers": {
                        "cache_on": _server(
                            *(_run(n, 0.2, stock_invariant=_stock(True)) for n in (1, 2, 3))
                        ),
                        "cache_off": _server(
                            _run(1, 0.2, stock_invariant=_stock(True)),
                            _run(2, 0.2, stock_invariant=_stock(False)),
                            _run(3, 0.2, stock_invariant=_stock(True)),
                        ),
                    },
                },
            },
            "memory": [
                {"app": {"cache_on": {"1": 80.0}, "cache_off": {"2": 80.0}},
                 "baseline": {"3": 30.0}, "peers": {}},
            ] * 3,
        },
        "scaling": {},
    }  # fmt: skip


def test_figures_are_medians_with_the_spread_of_the_rounds(results):
    cached = report.summarize(results)["product"]["servers"]["cache_on"]

    assert cached["ratio"] == {"median": 0.7, "min": 0.6, "max": 0.9}
    assert cached["p99_ms"] == {"median": 10.0, "min": 10.0, "max": 30.0}


def test_the_peer_ratio_is_taken_round_by_round_against_the_faster_peer(results):
    versus = report.summarize(results)["product"]["servers"]["cache_on"]["vs_peer"]

    # Round by round: 0.9 / 0.4, 0.6 / 0.4, 0.7 / 0.25.
    assert versus["median"] == pytest.approx(2.25)
    assert (versus["min"], versus["max"]) == pytest.approx((1.5, 2.8))
    assert versus["faster_peer"] == "fastapi_async"  # faster in two rounds of three


def test_targets_are_held_per_variant(results):
    summary = report.summarize(results)

    # Cache on: 0.7 ≥ 0.55 of bare, 2.25 ≥ 1.6 times the peer, median p99 10 ≤ 25 ms.
    assert summary["product"]["servers"]["cache_on"]["met"] is True
    assert summary["product"]["servers"]["cache_off"]["met"] is False  # 0.4 < 0.55


def test_a_stock_check_that_did_not_hold_misses_the_target_and_is_named(results):
    summary = report.summarize(results)

    assert summary["order"]["servers"]["cache_on"]["met"] is True
    assert summary["order"]["servers"]["cache_off"]["met"] is False
    assert report.stock_not_exact(results) == ["order@cache_off round 2"]
    page = report.markdown(results, "bench/results/test.json")
    assert "**STOCK NOT EXACT**" in page.split("## Targets")[0]


def test_a_short_or_busy_run_is_marked_preliminary(results):
    assert "Preliminary" not in report.markdown(results, "x")

    results["settings"]["full"] = False
    assert "**Preliminary figures**: a short run" in report.markdown(results, "x")

    results["settings"]["full"] = True
    results["machine"]["load_average_at_end"] = 4.5  # the benchmark's own load, at its end
    assert "Preliminary" not in report.markdown(results, "x")

    results["machine"]["load_average_at_start"] = 2.0  # other work before it started
    assert "on a busy machine (load average 2.0 when it started)" in report.markdown(results, "x")


def test_the_hot_products_are_live_ids_drawn_as_random_path_lua_draws_them():
    for products in (1_000, 20_000, 1_000_000):
        fx = fixtures(Size(products, 1))
        # random_path.lua: id = FIRST + k + floor(k / 99), k in [0, COUNT).
        ids = [fx.hot_first + k + k // 99 for k in range(fx.hot_count)]

        assert len(set(ids)) == fx.hot_count
        assert fx.hot_count == 10_000 or products < 20_000
        assert all(1 <= i <= products and not is_deleted(i) for i in ids)
        assert fx.hot_first > fx.pool_last  # orders change the pool's stock, not theirs


def test_the_sets_choose_their_defaults_and_the_environment_overrides(monkeypatch):
    for name in ("BENCH_SET", "BENCH_CACHE", "BENCH_PEERS", "BENCH_ROUNDS", "BENCH_SCALING"):
        monkeypatch.delenv(name, raising=False)

    targets, page = parse_settings([])
    assert (targets.variants, targets.peers, targets.rounds) == (["cache_on", "cache_off"], True, 3)
    assert page.name == "benchmarks.md"

    scaling, page = parse_settings(["--set", "scaling"])
    assert (scaling.variants, scaling.peers, scaling.scaling) == (
        ["cache_off"],
        False,
        [10_000, 100_000],
    )
    assert page.name == "benchmarks-scaling.md"

    monkeypatch.setenv("BENCH_CACHE", "off")
    monkeypatch.setenv("BENCH_PEERS", "off")
    assert parse_settings([])[0].variants == ["cache_off"]
    assert parse_settings([])[0].peers is False


def test_bench_cache_accepts_on_off_or_both_only():
    assert _variants("on, off") == ["cache_on", "cache_off"]
    with pytest.raises(argparse.ArgumentTypeError, match="BENCH_CACHE"):
        _variants("maybe")
