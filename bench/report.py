"""Turn a benchmark's results into its Markdown page and chart (``docs/benchmarks.md``, ...).

``bench/run.py`` calls it after each run; it also re-renders any saved run:

    .venv/bin/python -m bench.report bench/results/20261122T020000Z.json

It reads the results as they are stored (JSON: every key a string), so a
re-render is identical to the original. Every figure is a median over the
rounds, with the lowest and highest round beside it; the ratio to the faster
peer is taken within each round first.
"""

import json
import statistics
import sys
from pathlib import Path

MEMORY_LIMIT_MIB = 120
# Allocator noise between two identical rounds; more than this per worker is growth.
GROWTH_TOLERANCE_MIB = 2.0
FLAT_NOTE = "largest seed's ratio ÷ smallest's"
SETS_DOC = {"targets": "benchmarks.md", "scaling": "benchmarks-scaling.md"}


# --- numbers ----------------------------------------------------------------------


def _median_range(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _figures(runs: list[dict]) -> dict:
    """One server's runs of one scenario: medians over the rounds, and their spread."""
    invariants = [run["stock_invariant"] for run in runs if "stock_invariant" in run]
    return {
        "available": True,
        "rps": statistics.median(run["rps"] for run in runs),
        "baseline_rps": statistics.median(run["baseline_rps"] for run in runs),
        "ratio": _median_range([run["ratio"] for run in runs]),
        "p50_ms": statistics.median(run["latency_ms"]["p50"] for run in runs),
        "p99_ms": _median_range([run["latency_ms"]["p99"] for run in runs]),
        "failed": sum(run["failed"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
        "connections": min(run["connections"] for run in runs),
        "stock_exact": all(i["holds"] for i in invariants) if invariants else None,
    }


def _versus_peers(app_runs: list[dict], peers: dict) -> dict | None:
    """The app's ratio over the faster peer's, round by round (None without peers)."""
    per_round, faster = [], {}
    peer_runs = {
        name: {run["round"]: run for run in entry["runs"]}
        for name, entry in peers.items()
        if entry["available"] and entry["runs"]
    }
    for run in app_runs:
        ratios = {name: rounds[run["round"]]["ratio"] for name, rounds in peer_runs.items()
                  if run["round"] in rounds}  # fmt: skip
        if ratios:
            best = max(ratios, key=ratios.get)
            faster[best] = faster.get(best, 0) + 1
            per_round.append(run["ratio"] / ratios[best])
    if not per_round:
        return None
    return {**_median_range(per_round), "faster_peer": max(faster, key=faster.get)}


def summarize(results: dict) -> dict:
    """Per scenario and server: the figures, and per app variant whether each target is met.

    A variant with a failed request, a missed p99 (median over the rounds) or a
    stock check that did not hold has missed its target whatever its throughput.
    """
    variants = results["settings"]["variants"]
    summary = {}
    for scenario in results["scenarios"]:
        entry = results["main"]["scenarios"][scenario["name"]]
        if not entry["available"]:
            summary[scenario["name"]] = {"available": False, "why": entry["why"]}
            continue
        servers = {}
        for key, server in entry["servers"].items():
            servers[key] = (
                _figures(server["runs"])
                if server["available"] and server["runs"]
                else {"available": False, "why": server["why"] or "not measured"}
            )
        peers = {k: v for k, v in entry["servers"].items() if k not in variants}
        for key in variants:
            if servers.get(key, {}).get("available"):
                servers[key]["vs_peer"] = _versus_peers(entry["servers"][key]["runs"], peers)
        summary[scenario["name"]] = {"available": True, "servers": servers}
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        for key in variants if entry["available"] else ():
            figures = entry["servers"].get(key)
            if figures and figures["available"]:
                figures["met"] = _met(scenario, key, figures, summary)
    return summary


def _met(scenario: dict, key: str, figures: dict, summary: dict) -> bool | None:
    checks = []
    if scenario["target"] is not None:
        floor = scenario["target"]
        if scenario["relative_to"]:
            reference = summary.get(scenario["relative_to"], {})
            ref = reference.get("servers", {}).get(key) if reference.get("available") else None
            if not (ref and ref["available"]):
                return None
            floor *= ref["ratio"]["median"]
        checks.append(figures["ratio"]["median"] >= floor)
    if scenario.get("peer_target") is not None and figures.get("vs_peer"):
        checks.append(figures["vs_peer"]["median"] >= scenario["peer_target"])
    if scenario["p99_ms"] is not None:
        checks.append(figures["p99_ms"]["median"] <= scenario["p99_ms"])
    if figures["stock_exact"] is not None:
        checks.append(figures["stock_exact"])
    if not checks:
        return None
    return all(checks) and figures["failed"] == 0


def stock_not_exact(results: dict) -> list[str]:
    """Where a POST /orders run's stock check did not hold: ``scenario@server round N``."""
    broken = []
    for name, entry in results["main"]["scenarios"].items():
        for key, server in entry.get("servers", {}).items():
            for run in server["runs"]:
                if "stock_invariant" in run and not run["stock_invariant"]["holds"]:
                    broken.append(f"{name}@{key} round {run['round']}")
    return broken


def memory(results: dict) -> dict:
    """Per app variant: worker RSS after each round, and its growth from the first to the last."""
    rounds = results["main"]["memory"]
    variants = {}
    for key in results["settings"]["variants"]:
        first, last = rounds[0]["app"][key], rounds[-1]["app"][key]
        growth = {pid: last[pid] - first[pid] for pid in first if pid in last}
        peak = max(rss for sample in rounds for rss in sample["app"][key].values())
        variants[key] = {
            "rounds": [sample["app"][key] for sample in rounds],
            "peak_mib": peak,
            "growth_mib": growth,
            "workers_replaced": set(first) != set(last),  # a crash or a timeout kill
            "within_limit": peak <= MEMORY_LIMIT_MIB,
            "no_growth": set(first) == set(last)
            and all(g <= GROWTH_TOLERANCE_MIB for g in growth.values()),
        }
    return {"variants": variants, "baseline": rounds[-1]["baseline"], "peers": rounds[-1]["peers"]}


def scaling(results: dict) -> dict:
    """Per scaling scenario: ratio and req/s at each seed size (the first app variant)."""
    key = next(iter(results["settings"]["variants"]))
    sizes = sorted(results["scaling"], key=int)
    curves = {}
    for scenario in results["scenarios"]:
        if not scenario["scaling"]:
            continue
        points = []
        for size in sizes:
            entry = results["scaling"][size].get(scenario["name"])
            runs = (entry or {}).get("servers", {}).get(key, {}).get("runs")
            if entry and entry.get("available") and runs:
                points.append(
                    {
                        "products": int(size),
                        "rps": statistics.median(r["rps"] for r in runs),
                        "ratio": statistics.median(r["ratio"] for r in runs),
                    }
                )
        flatness = points[-1]["ratio"] / points[0]["ratio"] if len(points) > 1 else None
        curves[scenario["name"]] = {
            "points": points,
            "flatness": flatness,
            "met": None
            if flatness is None or scenario["flat"] is None
            else flatness >= scenario["flat"],
        }
    return curves


# --- Markdown ---------------------------------------------------------------------


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def _ratio(value: float) -> str:
    """Three decimals, or two significant digits for the tiny ratios of slow endpoints."""
    return f"{value:.3f}" if value >= 0.01 else f"{value:.2g}"


def _spread(figure: dict, fmt=_ratio) -> str:
    """The median, and the lowest and highest round when they differ: the noise."""
    low, high = figure["min"], figure["max"]
    return fmt(figure["median"]) + ("" if low == high else f" ({fmt(low)}–{fmt(high)})")


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _label(scenario: dict) -> str:
    return scenario["label"].replace("|", "\\|")


def _server_names(results: dict) -> dict:
    return {**results["settings"]["variants"], **results["settings"]["peers"]}


def markdown(results: dict, source: str) -> str:
    """The report as Markdown."""
    s = results["settings"]
    m = results["machine"]
    # Recomputed, not read: a re-render applies the current rules.
    summary = summarize(results)
    database = "PostgreSQL" if s["database"] == "postgresql" else "SQLite"
    title = "Benchmarks" if s["set"] == "targets" else "Benchmarks: more scenarios, and scaling"
    lines = [
        f"# {title}",
        "",
        f"<!-- Generated by `make bench{'' if s['set'] == 'targets' else '-scaling'}` "
        f"(bench/report.py) from {source}. Edit the generator, not this file. -->",
        "",
        *_broken_stock_warning(results),
        *_preliminary(results),
        f"Measured {results['started_at'][:16].replace('T', ' ')} UTC on commit "
        f"`{results['commit']}`: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['wrk']}. {database} seeded with "
        f"{s['products']:,} products (1 % soft-deleted), {s['orders']:,} orders of 1–3 "
        f"items, {s['users']:,} users{' (seed reused)' if results['seed']['reused'] else ''}.",
        "",
        "**How**: the app runs as in production (`gunicorn --config gunicorn.conf.py wsgi:app`, "
        f"`APP_ENV=production`, generated secrets, {s['workers']} workers of the class "
        f"`gunicorn.conf.py` sets ({s.get('worker_class') or 'not recorded'}); rate limits on with "
        "a ceiling of 1,000,000 per minute, JSON request and access logs to a file, CORS and "
        "metrics on), once per variant: "
        + ", ".join(
            f"{name} (`RESPONSE_CACHE={'1' if key == 'cache_on' else '0'}`)"
            for key, name in s["variants"].items()
        )
        + '. The baseline ("bare") is a bare Flask route returning a 5-field dict '
        f"(`bench/baseline_app.py`), also {s['workers']} sync workers. wrk on loopback, "
        f"{s['wrk_threads']} threads, {s['connections']} connections, {s['warmup_s']:g} s "
        f"warm-up then {s['duration_s']:g} s per run. {s['rounds']} rounds: in each, every "
        "scenario runs on every server in turn (the order flips each round) between two "
        "baseline runs, and each figure is its req/s over the mean of those two. Each figure "
        "below is the **median over the rounds**, with the lowest and highest round in "
        "brackets: the noise. The point read draws each request's id at random (fixed seed) "
        f"from {s['hot_products']:,} live products (`bench/random_path.lua`), so a cache "
        "is measured over many keys, not one; the page of 50 draws its page from the first "
        "20. `POST /orders` stops ordering after the run's duration and lets the orders in "
        "flight finish, so that the stock check is exact: the stock taken must equal two "
        "units per 201 counted by wrk.",
        "",
        *_load_warning(m),
        "What keeps these figures up, and why each missed target is missed and what it "
        "would take: [`performance.md`](performance.md).",
        "",
        f"![Throughput relative to the baseline]({Path(SETS_DOC[s['set']]).stem}.png)",
        "",
    ]
    if s["set"] == "targets":
        lines += _targets_table(results, summary)
    lines += _throughput_table(results, summary)
    lines += _stock_table(results)
    lines += _other_targets(results)
    lines += _scaling_table(results)
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "make bench            # the targets above, cache on and off, peers; ≤ 10 minutes",
        "make bench-scaling    # the other scenarios and the scaling curve (cache off)",
        "make bench-workers    # gunicorn's worker classes on PostgreSQL (benchmarks-workers.md)",
        "BENCH_DURATION=2 BENCH_WARMUP=0.5 BENCH_ROUNDS=2 BENCH_PRODUCTS=20000 make bench"
        "  # a quick look",
        "BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/storefront_bench make bench"
        "  # emptied!",
        "```",
        "",
        "`bench/run.py` documents every setting. Raw numbers of each run land in "
        "`bench/results/` (not committed); the servers' logs in `build/bench/logs/`.",
        "",
    ]
    return "\n".join(lines)


def _broken_stock_warning(results: dict) -> list[str]:
    broken = stock_not_exact(results)
    if not broken:
        return []
    return [
        f"> **STOCK NOT EXACT** after `POST /orders` on {', '.join(broken)}: the stock "
        "taken differs from two units per 201 wrk counted (see the stock table). "
        "A bug in the order path, or orders still in flight when wrk stopped.",
        "",
    ]


BUSY_LOAD = 1.5  # 1-minute load average on 2 CPUs: other work took a good share


def _load_before(machine: dict) -> float:
    # Only the load before the run tells of other work: while it runs, wrk and
    # the servers keep both CPUs busy themselves, so the load at the end is
    # always high (about 4 to 5 on 2 CPUs) and says nothing about anyone else.
    return machine.get("load_average_at_start", 0)


def _preliminary(results: dict) -> list[str]:
    """A banner when the run was shorter than its make target's, or the machine busy."""
    reasons = []
    if not results["settings"].get("full", True):
        reasons.append("a short run (shorter, fewer rounds or a smaller seed than make's)")
    before = _load_before(results["machine"])
    if before >= BUSY_LOAD:
        reasons.append(f"on a busy machine (load average {before:.1f} when it started)")
    if not reasons:
        return []
    return [
        f"> **Preliminary figures**: {' and '.join(reasons)}. Not the figures to hold the "
        "targets against; a full run on a quiet machine is.",
        "",
    ]


def _load_warning(machine: dict) -> list[str]:
    if _load_before(machine) < 1:
        return []
    return [
        f"**Caution**: the machine was busy with other work (1-minute load average "
        f"{machine['load_average_at_start']:.1f} when the run started, on "
        f"{machine['cpus']} CPUs), which lowers and scatters every figure; the ratios "
        "suffer less than req/s.",
        "",
    ]


def _target_cell(scenario: dict, figures: dict | None) -> str:
    if not figures or not figures["available"]:
        return "not measured"
    parts = [f"{_spread(figures['ratio'])} of bare"]
    versus = figures.get("vs_peer")
    if versus:
        parts.append(f"{_spread(versus, lambda v: f'{v:.2f}')}× the faster peer")
    if scenario["p99_ms"] is not None:
        parts.append(f"p99 {_spread(figures['p99_ms'], lambda v: f'{v:.1f}')} ms")
    if figures["stock_exact"] is not None:
        parts.append("stock exact" if figures["stock_exact"] else "**stock not exact**")
    if figures["failed"]:
        parts.append(f"**{figures['failed']:,} failed**")
    return f"{'; '.join(parts)}: {_verdict(figures.get('met'))}"


def _targets_table(results: dict, summary: dict) -> list[str]:
    """Each target of issue #14, with the cache on and off side by side."""
    variants = results["settings"]["variants"]
    lines = [
        "## Targets",
        "",
        'Medians over the rounds (lowest–highest round in brackets). "Bare" is the '
        'baseline of the same round; "the faster peer" is the faster FastAPI peer of '
        "the same round (see below), the ratio taken round by round.",
        "",
        "| scenario | target | " + " | ".join(variants.values()) + " |",
        "| --- | --- | " + " | ".join("---" for _ in variants) + " |",
    ]
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        if not entry["available"]:
            cells = [f"not available: {entry['why']}"] * len(variants)
        else:
            cells = [_target_cell(scenario, entry["servers"].get(key)) for key in variants]
        lines.append(f"| {_label(scenario)} | {scenario['target_text']} | {' | '.join(cells)} |")
    return [*lines, ""]


def _throughput_table(results: dict, summary: dict) -> list[str]:
    names = _server_names(results)
    lines = [
        "## Throughput and latency, every server",
        "",
        "The FastAPI peers (`bench/peers/`) are the same reads written the way FastAPI's "
        "documentation writes them: a session per request from a `Depends` dependency, a "
        "response model read from the ORM objects, pages as a count plus `OFFSET`/`LIMIT`; "
        "once with `def` endpoints, once with `async def` endpoints on SQLAlchemy's asyncio "
        "engine (aiosqlite). They return the API's fields, `_links` and page envelope, but "
        "none of its other features. gunicorn with uvicorn's worker class, as many workers "
        "as the app, same database file, same rounds.",
        "",
        "| scenario | server | req/s | ratio to bare | p50 ms | p99 ms | connections "
        "| requests | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        if not entry["available"]:
            lines.append(
                f"| {_label(scenario)} | — | — | not available: {entry['why']} | | | | | |"
            )
            continue
        for key, figures in entry["servers"].items():
            if not figures["available"]:
                lines.append(
                    f"| {_label(scenario)} | {names.get(key, key)} | — "
                    f"| not available: {figures['why']} | | | | | |"
                )
                continue
            lines.append(
                f"| {_label(scenario)} | {names.get(key, key)} | {_count(figures['rps'])} "
                f"| {_spread(figures['ratio'])} | {figures['p50_ms']:.1f} "
                f"| {_spread(figures['p99_ms'], lambda v: f'{v:.1f}')} "
                f"| {figures['connections']} | {figures['requests']:,} | {figures['failed']:,} |"
            )
    return [*lines, ""]


def _stock_table(results: dict) -> list[str]:
    names = _server_names(results)
    rows = []
    for name, entry in results["main"]["scenarios"].items():
        for key, server in entry.get("servers", {}).items():
            for run in server["runs"]:
                check = run.get("stock_invariant")
                if check is None:
                    continue
                rows.append(
                    f"| {name}, {names.get(key, key)}, round {run['round']} "
                    f"| {check['orders_answered_201']:,} | {check['units_by_201s']:,} "
                    f"| {check['stock_taken']:,} | {check['units_in_new_order_lines']:,} "
                    f"| {check['orders_in_database']:,} | {check['in_flight_when_wrk_stopped']} "
                    f"| {'exact' if check['holds'] else '**NOT EXACT**'} |"
                )
    if not rows:
        return []
    return [
        "## Stock after POST /orders",
        "",
        "| run | 201s | units they ordered | stock taken | units in new order lines "
        "| new orders | in flight at the end | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
    ]


def _other_targets(results: dict) -> list[str]:
    startup = results["startup"]
    mem = memory(results)
    names = _server_names(results)
    lines = [
        "## Other targets",
        "",
        "| what | measured | target | |",
        "| --- | --- | --- | --- |",
        f"| `create_app()` in a fresh process, imports included (median of "
        f"{len(startup['samples_s'])}) | {startup['median_s']:.2f} s | "
        f"≤ {startup['target_s']:g} s | {_verdict(startup['median_s'] <= startup['target_s'])} |",
    ]
    others = [("baseline", mem["baseline"]), *mem["peers"].items()]
    other_rss = "; ".join(
        f"{names.get(n, n)}: {', '.join(f'{v:.1f}' for v in rss.values())}" for n, rss in others
    )
    for key, variant in mem["variants"].items():
        rss = " / ".join(
            ", ".join(f"{v:.1f}" for v in sample.values()) for sample in variant["rounds"]
        )
        growth = ", ".join(f"{v:+.1f}" for v in variant["growth_mib"].values())
        lines += [
            f"| RSS of each worker of the {names[key]} after each round (MiB; {other_rss}) "
            f"| {rss} | ≤ {MEMORY_LIMIT_MIB} MiB | {_verdict(variant['within_limit'])} |",
            f"| its growth from the first round to the last (MiB) | {growth}"
            f"{' (a worker was replaced)' if variant['workers_replaced'] else ''} "
            f"| none (≤ {GROWTH_TOLERANCE_MIB:g}) | {_verdict(variant['no_growth'])} |",
        ]
    return [*lines, ""]


def _scaling_table(results: dict) -> list[str]:
    curves = scaling(results)
    sizes = sorted(results["scaling"], key=int)
    if len(sizes) < 2 or not curves:
        return []
    labels = {s["name"]: _label(s) for s in results["scenarios"]}
    flats = {s["name"]: s["flat"] for s in results["scenarios"]}
    lines = [
        "## Scaling with catalog size",
        "",
        "Ratio to the baseline (req/s) at each seed size, "
        f"{next(iter(results['settings']['variants'].values()))}; orders are a tenth of the "
        f"products. The last columns compare the largest seed with the smallest ({FLAT_NOTE}): "
        "flat cost is 1.0. The 0.2 floor on the list is what counting `total` may cost: "
        "at most 5× slower at a million rows.",
        "",
        "| scenario | " + " | ".join(f"{int(size):,}" for size in sizes) + " | largest ÷ smallest "
        "| target | |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: | ---: | --- |",
    ]
    for name, curve in curves.items():
        by_size = {p["products"]: p for p in curve["points"]}
        cells = [
            f"{_ratio(by_size[int(size)]['ratio'])} ({_count(by_size[int(size)]['rps'])})"
            if int(size) in by_size
            else "n/a"
            for size in sizes
        ]
        flatness = "—" if curve["flatness"] is None else f"{curve['flatness']:.2f}"
        floor = "—" if flats[name] is None else f"≥ {flats[name]:g}"
        lines.append(
            f"| {labels[name]} | {' | '.join(cells)} | {flatness} | {floor} "
            f"| {_verdict(curve['met'])} |"
        )
    return [*lines, ""]


# --- the chart --------------------------------------------------------------------


def _rows(count: float, _position=None) -> str:
    """10000 -> 10k, 1000000 -> 1M: tick labels for catalog sizes."""
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= unit:
            return f"{count / unit:g}{suffix}"
    return f"{count:g}"


COLOURS = ("#1565c0", "#90caf9", "#ef6c00", "#ffcc80")


def chart(results: dict, path: Path) -> None:
    """Each scenario's median ratio on every server, with its target; and the scaling curves."""
    # Imported here, not at the top: matplotlib comes with the bench's own
    # requirements, and the bookkeeping above is tested by make test without them.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    summary = summarize(results)
    scenarios = [s for s in results["scenarios"] if summary[s["name"]]["available"]]
    names = _server_names(results)
    curves = {name: c for name, c in scaling(results).items() if c["points"]}
    panels = 2 if curves else 1
    figure, axes = plt.subplots(1, panels, figsize=(14 if curves else 10, 6), squeeze=False)
    bars = axes[0][0]
    height = 0.8 / max(1, len(names))
    for number, (key, title) in enumerate(names.items()):
        ys, xs = [], []
        for position, scenario in enumerate(scenarios):
            figures = summary[scenario["name"]]["servers"].get(key)
            if figures and figures["available"]:
                ys.append(position - 0.4 + height * (number + 0.5))
                xs.append(figures["ratio"]["median"])
        bars.barh(ys, xs, height=height, color=COLOURS[number % len(COLOURS)], label=title)
    for position, scenario in enumerate(scenarios):
        if scenario["target"] is not None and not scenario["relative_to"]:
            target = scenario["target"]
            bars.plot([target, target], [position - 0.45, position + 0.45], color="black", lw=2)
    bars.set_yticks(list(range(len(scenarios))), [s["label"] for s in scenarios], fontsize=8)
    bars.invert_yaxis()
    bars.axvline(1.0, color="#90a4ae", ls="--", lw=1)
    bars.set_xlabel(
        "req/s relative to the bare-Flask baseline, median of the rounds (black: target)"
    )
    bars.legend(fontsize=8, loc="lower right")
    if curves:
        lines = axes[0][1]
        labels = {s["name"]: s["label"] for s in results["scenarios"]}
        sizes = sorted({p["products"] for c in curves.values() for p in c["points"]})
        for name, curve in curves.items():
            xs = [p["products"] for p in curve["points"]]
            lines.plot(xs, [p["ratio"] for p in curve["points"]], marker="o", label=labels[name])
        lines.set_xscale("log")
        lines.set_yscale("log")
        lines.set_xticks(sizes, [_rows(size) for size in sizes])
        lines.xaxis.set_minor_formatter(NullFormatter())
        lines.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        lines.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        lines.yaxis.set_minor_formatter(NullFormatter())
        lines.set_xlabel("products in the catalog")
        lines.set_ylabel("req/s relative to the baseline (log)")
        lines.set_title("Scaling: a flat line is a cost independent of size")
        lines.grid(True, which="both", alpha=0.3)
        lines.legend(fontsize=8)
    s = results["settings"]
    figure.suptitle(
        f"Storefront API, {s['database']}, {s['products']:,} products, "
        f"{s['connections']} connections, {s['rounds']} rounds, {results['started_at'][:10]}, "
        f"{results['commit']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict, page: Path, source: str = "bench/results/") -> tuple[Path, Path]:
    """Write the Markdown ``page`` and its chart (same name, ``.png``); return both paths."""
    page.parent.mkdir(parents=True, exist_ok=True)
    picture = page.with_suffix(".png")
    page.write_text(markdown(results, source))
    chart(results, picture)
    return page, picture


def main() -> None:
    """Re-render the docs from a saved results file."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.report bench/results/<timestamp>.json")
    source = Path(sys.argv[1])
    results = json.loads(source.read_text())
    root = Path(__file__).resolve().parent.parent
    page = root / "docs" / SETS_DOC[results["settings"]["set"]]
    write(results, page, f"bench/results/{source.name}")


if __name__ == "__main__":
    main()
