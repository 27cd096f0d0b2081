"""Turn a benchmark's results into ``docs/benchmarks.md`` and ``docs/benchmarks.png``.

``bench/run.py`` calls it after each run; it also re-renders any saved run:

    .venv/bin/python -m bench.report bench/results/20261122T020000Z.json

It reads the results as they are stored (JSON: every key a string), so a
re-render is identical to the original.
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

MEMORY_LIMIT_MIB = 120
# Allocator noise between two identical passes; more than this per worker is growth.
GROWTH_TOLERANCE_MIB = 2.0
FLAT_NOTE = "largest seed's ratio ÷ smallest's"


# --- numbers ----------------------------------------------------------------------


def summarize(results: dict) -> dict:
    """Per scenario: the passes averaged, and whether each of its targets is met.

    req/s and ratios are the mean of the passes, p50 too; p99 is the worse pass.
    A scenario with a failed request, a missed p99 or a broken stock invariant
    has missed its target whatever its throughput.
    """
    summary = {}
    main = results["main"]["scenarios"]
    for scenario in results["scenarios"]:
        entry = main[scenario["name"]]
        runs = entry["runs"]
        if not entry["available"] or not runs:
            summary[scenario["name"]] = {"available": False, "why": entry["why"]}
            continue
        invariants = [run["stock_invariant"] for run in runs if "stock_invariant" in run]
        summary[scenario["name"]] = {
            **_averaged(runs),
            "stock_invariant_holds": all(i["holds"] for i in invariants) if invariants else None,
        }
        if "peers" in entry:
            summary[scenario["name"]].update(
                _against_peers(scenario, summary[scenario["name"]], entry["peers"])
            )
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        if entry["available"]:
            entry["met"] = _met(scenario, entry, summary)
    return summary


def _averaged(runs: list[dict]) -> dict:
    """One server's runs of one scenario: the passes averaged (p99: the worse one)."""
    return {
        "available": True,
        "rps": statistics.mean(run["rps"] for run in runs),
        "baseline_rps": statistics.mean(run["baseline_rps"] for run in runs),
        "ratio": statistics.mean(run["ratio"] for run in runs),
        "ratio_range": [min(r["ratio"] for r in runs), max(r["ratio"] for r in runs)],
        "p50_ms": statistics.mean(run["latency_ms"]["p50"] for run in runs),
        "p99_ms": max(run["latency_ms"]["p99"] for run in runs),
        "failed": sum(run["failed"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
        "connections": min(run["connections"] for run in runs),
    }


def _against_peers(scenario: dict, app: dict, peers: dict) -> dict:
    """The peers' figures beside the app's, and the app against the faster peer.

    Faster means the higher ratio to the baseline: each peer run has its own
    baseline runs around it, so drift in the machine's speed cancels out. A
    peer with failed requests still counts; the table shows its failures.
    """
    figures = {
        name: _averaged(entry["runs"])
        if entry["available"] and entry["runs"]
        else {"available": False, "why": entry["why"]}
        for name, entry in peers.items()
    }
    measured = {name: f for name, f in figures.items() if f["available"]}
    if not measured:
        return {"peers": figures, "faster_peer": None, "vs_faster_peer": None, "peer_met": None}
    faster = max(measured, key=lambda name: measured[name]["ratio"])
    versus = app["ratio"] / measured[faster]["ratio"]
    target = scenario.get("peer_target")
    return {
        "peers": figures,
        "faster_peer": faster,
        "vs_faster_peer": versus,
        "peer_met": None if target is None else versus >= target and app["failed"] == 0,
    }


def _met(scenario: dict, entry: dict, summary: dict) -> bool | None:
    checks = []
    if scenario["target"] is not None:
        reference = summary.get(scenario["relative_to"]) if scenario["relative_to"] else None
        if scenario["relative_to"] and not (reference and reference["available"]):
            return None
        floor = scenario["target"] * (reference["ratio"] if reference else 1)
        checks.append(entry["ratio"] >= floor)
    if scenario["p99_ms"] is not None:
        checks.append(entry["p99_ms"] <= scenario["p99_ms"])
    if entry["stock_invariant_holds"] is not None:
        checks.append(entry["stock_invariant_holds"])
    if not checks:
        return None
    return all(checks) and entry["failed"] == 0


def memory(results: dict) -> dict:
    """Worker RSS after each pass, and its growth from the first pass to the last."""
    passes = results["main"]["memory"]
    first, last = passes[0]["app"], passes[-1]["app"]
    growth = {pid: last[pid] - first[pid] for pid in first if pid in last}
    peak = max(rss for sample in passes for rss in sample["app"].values())
    return {
        "app": [sample["app"] for sample in passes],
        "baseline": [sample["baseline"] for sample in passes],
        "peak_mib": peak,
        "growth_mib": growth,
        "workers_replaced": set(first) != set(last),  # a crash or a timeout kill
        "within_limit": peak <= MEMORY_LIMIT_MIB,
        "no_growth": set(first) == set(last)
        and all(g <= GROWTH_TOLERANCE_MIB for g in growth.values()),
    }


def scaling(results: dict) -> dict:
    """Per scaling scenario: ratio and req/s at each seed size, and the flatness check."""
    sizes = sorted(results["scaling"], key=int)
    curves = {}
    for scenario in results["scenarios"]:
        if not scenario["scaling"]:
            continue
        points = []
        for size in sizes:
            entry = results["scaling"][size].get(scenario["name"])
            if entry and entry.get("available") and entry["runs"]:
                runs = entry["runs"]
                points.append(
                    {
                        "products": int(size),
                        "rps": statistics.mean(r["rps"] for r in runs),
                        "ratio": statistics.mean(r["ratio"] for r in runs),
                        "p99_ms": max(r["latency_ms"]["p99"] for r in runs),
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


def _spread(entry: dict) -> str:
    """The lowest and highest pass, when there were several: how far to trust the mean."""
    low, high = entry["ratio_range"]
    return "" if low == high else f" ({_ratio(low)}–{_ratio(high)})"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def markdown(results: dict, source: str) -> str:
    """The report as Markdown."""
    s = results["settings"]
    m = results["machine"]
    # Recomputed, not read: a re-render applies the current rules.
    summary = summarize(results)
    database = "PostgreSQL" if s["database"] == "postgresql" else "SQLite"
    lines = [
        "# Benchmarks",
        "",
        f"<!-- Generated by `make bench` (bench/report.py) from {source}. "
        "Edit the generator, not this file. -->",
        "",
        f"Measured {results['started_at'][:16].replace('T', ' ')} UTC on commit "
        f"`{results['commit']}`: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['wrk']}. {database} seeded with "
        f"{s['products']:,} products (1 % soft-deleted), {s['orders']:,} orders of 1–3 "
        f"items, {s['users']:,} users{' (seed reused)' if results['seed']['reused'] else ''}.",
        "",
        "**How**: the app runs as in production (`gunicorn --config gunicorn.conf.py wsgi:app`, "
        "`APP_ENV=production`, generated secrets, 2 sync workers; rate limits on with a "
        "ceiling of 1,000,000 per minute, JSON request and access logs to a file, CORS and "
        "metrics on). The baseline is a bare Flask route returning a 5-field dict "
        "(`bench/baseline_app.py`), also 2 sync workers. wrk on loopback, "
        f"{s['wrk_threads']} threads, {s['connections']} connections, {s['warmup_s']:g} s "
        f"warm-up then {s['duration_s']:g} s per run: short runs, so beside each ratio stand "
        "its lowest and highest pass, a measure of the noise. Runs alternate baseline, "
        "scenario, baseline, ...; a scenario's ratio is its req/s over the mean of the "
        "baseline runs just before and after it. "
        f"{s['passes']} passes, averaged (p99: the worse pass; requests: all passes together). "
        "When wrk stops, the server still serves the requests in flight; so that they "
        "take at most about 5 s to finish, endpoints slower than that allows are measured "
        "with fewer connections (the table says how many): their req/s is the same, their "
        "latency lower than it would be at full concurrency.",
        "",
        *_load_warning(m),
        "What keeps these figures up, and why each missed target is missed and what it "
        "would take: [`performance.md`](performance.md).",
        "",
        "![Throughput relative to the baseline, and scaling with catalog size](benchmarks.png)",
        "",
        "## Throughput and latency",
        "",
        "| scenario | req/s | baseline req/s | ratio | target | | p50 ms | p99 ms "
        "| connections | requests | failed |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        label = scenario["label"].replace("|", "\\|")
        if not entry["available"]:
            lines.append(
                f"| {label} | — | — | — | {scenario['target_text']} | not available: "
                f"{entry['why']} | | | | | |"
            )
            continue
        lines.append(
            f"| {label} | {_count(entry['rps'])} | {_count(entry['baseline_rps'])} "
            f"| {_ratio(entry['ratio'])}{_spread(entry)} | {scenario['target_text']} "
            f"| {_verdict(entry['met'])} "
            f"| {entry['p50_ms']:.1f} | {entry['p99_ms']:.1f} | {entry['connections']} "
            f"| {entry['requests']:,} | {entry['failed']:,} |"
        )
    lines += ["", *_peer_table(results, summary)]
    lines += [*_other_targets(results, summary), "", *_scaling_table(results)]
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                                   # the defaults above; ≤ 10 minutes",
        "BENCH_PRODUCTS=100000 BENCH_ORDERS=10000 make bench",
        "BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench make bench  # emptied!",
        "BENCH_ONLY=product,list BENCH_SCALING= make bench   # a quick look at two scenarios",
        "BENCH_PEERS=0 make bench                     # without the FastAPI peers",
        "```",
        "",
        "`bench/run.py` documents every setting. Raw numbers of each run land in "
        "`bench/results/` (not committed); the servers' logs in `build/bench/logs/`.",
        "",
    ]
    return "\n".join(lines)


def _load_warning(machine: dict) -> list[str]:
    busiest = max(machine.get("load_average_at_start", 0), machine.get("load_average_at_end", 0))
    if busiest < 1:
        return []
    return [
        f"**Caution**: the machine was busy with other work (1-minute load average "
        f"{machine['load_average_at_start']:.1f} at the start, "
        f"{machine.get('load_average_at_end', 0):.1f} at the end, on {machine['cpus']} CPUs), "
        "which lowers and scatters every figure; the ratios suffer less than req/s.",
        "",
    ]


def _peer_cell(figures: dict) -> str:
    if not figures["available"]:
        return f"not available: {figures['why']}"
    failed = f", **{figures['failed']:,} failed**" if figures["failed"] else ""
    return (
        f"{_ratio(figures['ratio'])}{_spread(figures)}: {_count(figures['rps'])} req/s, "
        f"p99 {figures['p99_ms']:.1f} ms{failed}"
    )


def _peer_passes_text(settings: dict) -> str:
    passes = settings.get("peer_passes", settings["passes"])
    if passes == 1:
        return (
            "The peers are measured in the last pass only (`BENCH_PEERS=1`, to keep "
            "`make bench` within its 10 minutes), so their figures have no spread."
        )
    which = "every pass" if passes == settings["passes"] else f"the last {passes} passes"
    return f"The peers are measured in {which}, in an order that flips from pass to pass."


def _peer_table(results: dict, summary: dict) -> list[str]:
    """This API beside the FastAPI peers, where the run measured them (older runs did not)."""
    names = results["settings"].get("peers")
    if names is None:
        return []
    lines = ["## Against FastAPI", ""]
    if not names:
        return [
            *lines,
            "The FastAPI peers were not measured in this run (`BENCH_PEERS=0`, or "
            "`BENCH_ONLY` left out every scenario they answer).",
            "",
        ]
    lines += [
        "The same reads written with FastAPI, pydantic 2 and SQLAlchemy the way FastAPI's "
        "documentation writes them (`bench/peers/`): a session per request from a "
        "`Depends` dependency, a response model read from the ORM objects, pages as a "
        "count plus `OFFSET`/`LIMIT`; once with `def` endpoints on a `Session`, once "
        "with `async def` endpoints on SQLAlchemy's asyncio engine (aiosqlite). They "
        "return the API's fields, `_links` and page envelope, but none of its other "
        "features (no rate limits, ETags, request log, metrics, CORS or security "
        "headers; gunicorn's access log only). Served by gunicorn with uvicorn's worker "
        f"class (uvloop, httptools), {results['settings']['workers']} workers like the "
        "app, on the same database file, in the same run: each peer run sits between "
        f"two baseline runs like every other. {_peer_passes_text(results['settings'])} "
        "Each figure is req/s relative to the bare-Flask baseline; the last columns hold "
        "this API (all passes) against the faster of the two peers.",
        "",
        "| scenario | this API | " + " | ".join(names.values()) + " | API ÷ faster peer "
        "| target | |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " | ---: | --- | --- |",
    ]
    for scenario in results["scenarios"]:
        entry = summary[scenario["name"]]
        if not entry["available"] or "peers" not in entry:
            continue
        cells = [
            _peer_cell(entry["peers"][name]) if name in entry["peers"] else "not measured"
            for name in names
        ]
        versus = (
            "—"
            if entry["vs_faster_peer"] is None
            else f"{entry['vs_faster_peer']:.2f} (vs {names[entry['faster_peer']]})"
        )
        label = scenario["label"].replace("|", "\\|")
        lines.append(
            f"| {label} | {_peer_cell(entry)} | {' | '.join(cells)} | {versus} "
            f"| {scenario.get('peer_target_text', '—')} | {_verdict(entry['peer_met'])} |"
        )
    return [*lines, ""]


def _other_targets(results: dict, summary: dict) -> list[str]:
    startup = results["startup"]
    mem = memory(results)
    rss = " / ".join(
        ", ".join(f"{v:.1f}" for v in sample.values()) for sample in mem["app"]
    )  # per pass, per worker
    baseline_rss = ", ".join(f"{v:.1f}" for v in mem["baseline"][-1].values())
    peer_names = results["settings"].get("peers") or {}
    for name, rss_by_pid in results["main"]["memory"][-1].get("peers", {}).items():
        rss_text = ", ".join(f"{v:.1f}" for v in rss_by_pid.values())
        baseline_rss += f"; {peer_names.get(name, name)}'s: {rss_text}"
    growth = ", ".join(f"{v:+.1f}" for v in mem["growth_mib"].values())
    lines = [
        "## Other targets",
        "",
        "| what | measured | target | |",
        "| --- | --- | --- | --- |",
        f"| `create_app()` in a fresh process, imports included (median of "
        f"{len(startup['samples_s'])}) | {startup['median_s']:.2f} s | "
        f"≤ {startup['target_s']:g} s | {_verdict(startup['median_s'] <= startup['target_s'])} |",
        f"| RSS of each app worker after each pass (MiB; baseline's: {baseline_rss}) "
        f"| {rss} | ≤ {MEMORY_LIMIT_MIB} MiB | {_verdict(mem['within_limit'])} |",
        f"| RSS growth from the first pass to the last (MiB) | {growth}"
        f"{' (a worker was replaced)' if mem['workers_replaced'] else ''} "
        f"| none (≤ {GROWTH_TOLERANCE_MIB:g}) | {_verdict(mem['no_growth'])} |",
    ]
    order_runs = results["main"]["scenarios"].get("order", {}).get("runs", [])
    for run in order_runs:
        check = run["stock_invariant"]
        lines.append(
            f"| POST /orders pass {run['pass']}: stock | {check['stock_taken']:,} units taken "
            f"from stock, {check['units_sold']:,} in new order lines; "
            f"{check['orders_answered_201']:,} orders answered 201, "
            f"{check['orders_in_database']:,} in the database (wrk abandons at most "
            f"{check['abandoned_at_most']} in flight) | sold + remaining = initial "
            f"| {_verdict(check['holds'])} |"
        )
    return lines


def _scaling_table(results: dict) -> list[str]:
    curves = scaling(results)
    sizes = sorted(results["scaling"], key=int)
    if len(sizes) < 2 or not curves:
        return []
    labels = {s["name"]: s["label"] for s in results["scenarios"]}
    flats = {s["name"]: s["flat"] for s in results["scenarios"]}
    lines = [
        "## Scaling with catalog size",
        "",
        "Ratio to the baseline (req/s) at each seed size; orders are a tenth of the "
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
    return lines


# --- the chart --------------------------------------------------------------------


def _rows(count: float, _position=None) -> str:
    """10000 -> 10k, 1000000 -> 1M: tick labels for catalog sizes."""
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= unit:
            return f"{count / unit:g}{suffix}"
    return f"{count:g}"


PEER_MARKERS = ("D", "o", "s", "^")


def _peer_marks(bars, results: dict, summary: dict) -> None:
    """The FastAPI peers' ratios as hollow marks on the rows of the scenarios they answer.

    Drawn along the bar's lower edge, clear of the ratio printed beside it.
    """
    names = results["settings"].get("peers") or {}
    for (name, title), marker in zip(names.items(), PEER_MARKERS, strict=False):
        points = [
            (entry["peers"][name]["ratio"], position + 0.3)
            for position, scenario in enumerate(results["scenarios"])
            if (entry := summary[scenario["name"]]).get("peers", {}).get(name, {}).get("available")
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            bars.scatter(
                xs,
                ys,
                s=28,
                marker=marker,
                facecolors="none",
                edgecolors="black",
                zorder=3,
                label=title,
            )
    if names:
        bars.legend(fontsize=8, loc="lower right")


def chart(results: dict, path: Path) -> None:
    """Two panels: each scenario's ratio against its target, and the scaling curves."""
    # Recomputed, not read: a re-render applies the current rules.
    summary = summarize(results)
    scenarios = results["scenarios"]
    curves = {name: c for name, c in scaling(results).items() if c["points"]}
    figure, (bars, lines) = plt.subplots(
        1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [3, 2]}
    )
    colours = {True: "#2e7d32", False: "#c62828", None: "#78909c"}
    ratios = [summary[s["name"]].get("ratio", 0) for s in scenarios]
    positions = range(len(scenarios))
    bars.barh(positions, ratios, color=[colours[summary[s["name"]].get("met")] for s in scenarios])
    for position, scenario in zip(positions, scenarios, strict=True):
        entry = summary[scenario["name"]]
        note = _ratio(entry["ratio"]) if entry["available"] else "not available"
        bars.text(entry.get("ratio", 0) + 0.01, position, note, va="center", fontsize=9)
        if scenario["target"] is None or not entry["available"]:
            continue
        reference = summary.get(scenario["relative_to"]) if scenario["relative_to"] else None
        if reference is not None and not reference["available"]:
            continue
        target = scenario["target"] * (reference["ratio"] if reference else 1)
        bars.plot([target, target], [position - 0.4, position + 0.4], color="black", lw=2)
    _peer_marks(bars, results, summary)
    bars.set_yticks(list(positions), [s["label"] for s in scenarios], fontsize=9)
    bars.invert_yaxis()
    bars.axvline(1.0, color="#90a4ae", ls="--", lw=1)
    bars.set_xlabel("req/s relative to the bare-Flask baseline (black mark: target)")
    bars.set_title("Throughput vs baseline (green: target met, red: missed)")
    peer_ratios = [
        figures["ratio"]
        for entry in summary.values()
        for figures in entry.get("peers", {}).values()
        if figures["available"]
    ]
    bars.set_xlim(0, max([1.1, *(r + 0.15 for r in ratios + peer_ratios)]))
    labels = {s["name"]: s["label"] for s in scenarios}
    sizes = sorted({p["products"] for c in curves.values() for p in c["points"]})
    for name, curve in curves.items():
        xs = [p["products"] for p in curve["points"]]
        ys = [p["ratio"] for p in curve["points"]]
        lines.plot(xs, ys, marker="o", label=labels[name])
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
    if curves:
        lines.legend(fontsize=8)
    s = results["settings"]
    figure.suptitle(
        f"Storefront API, {s['database']}, {s['products']:,} products, "
        f"{s['connections']} connections, {results['started_at'][:10]}, {results['commit']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict, docs: Path, source: str = "bench/results/") -> tuple[Path, Path]:
    """Write ``benchmarks.md`` and ``benchmarks.png`` into ``docs``; return both paths."""
    docs.mkdir(parents=True, exist_ok=True)
    page, picture = docs / "benchmarks.md", docs / "benchmarks.png"
    page.write_text(markdown(results, source))
    chart(results, picture)
    return page, picture


def main() -> None:
    """Re-render the docs from a saved results file."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.report bench/results/<timestamp>.json")
    source = Path(sys.argv[1])
    root = Path(__file__).resolve().parent.parent
    write(json.loads(source.read_text()), root / "docs", f"bench/results/{source.name}")


if __name__ == "__main__":
    main()
