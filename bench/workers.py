"""gunicorn's worker classes, measured: ``make bench-workers`` (issue #14, item 5).

The app under ``sync``, ``gthread`` (4 and 8 threads) and ``gevent`` workers,
as many workers each (``bench/server.py``'s ``WORKERS``), on PostgreSQL, for
the point read (random ids over the hot products, response cache off, so each
request reaches the database) and ``POST /orders`` (with the exact stock
check of ``bench/run.py``). Each is measured with the database on loopback
(0 ms) and behind ``bench/delay_proxy.py`` (``BENCH_DB_DELAY_MS`` of one-way
delay per chunk, so about twice that per round trip). Rounds flip the order of
the classes. The class is set as an operator would, with ``gunicorn.conf.py``'s
``GUNICORN_WORKER_CLASS`` and ``GUNICORN_THREADS``, and the master's log is
checked for the class it really runs.

Before that, it checks that psycopg 3 really yields under gevent: four
greenlets each run ``SELECT pg_sleep(0.25)`` on their own connection after
``monkey.patch_all()``; together they take about 0.25 s if psycopg's waits
cooperate and 1 s if they block. The same with ``PSYCOPG_WAIT_FUNC=wait_c``
(psycopg's C wait, which gevent cannot patch) is the control.

Settings: ``BENCH_DATABASE_URL`` (default: a database of its own,
``storefront_bench_workers``, created if missing and emptied), ``BENCH_PRODUCTS``
(100000), ``BENCH_DURATION`` (5), ``BENCH_WARMUP`` (1), ``BENCH_CONNECTIONS``
(32), ``BENCH_ROUNDS`` (2), ``BENCH_DB_DELAY_MS`` (1: about 2.6 ms per round
trip), ``BENCH_CLASSES`` (all: ``sync,gthread4,gthread8,gevent``), ``BENCH_DOCS``
(where the page goes: ``docs/``). gevent comes from
bench/requirements.txt; without it that class is reported as not installed.
Writes ``docs/benchmarks-workers.md``; raw numbers go to ``bench/results/``.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.delay_proxy import DelayProxy
from bench.report import BUSY_LOAD
from bench.run import (
    RESULTS,
    SCENARIOS,
    Session,
    Settings,
    git_commit,
    log,
    machine,
    worker_class_used,
)
from bench.seed import WORK, Size, working_copy
from bench.server import BIN, ROOT, WORKERS, app_server, production_env

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/storefront_bench_workers"
REPORT = "benchmarks-workers.md"  # in BENCH_DOCS, by default docs/
# name -> (what the tables call it, the environment that picks it in gunicorn.conf.py)
_GTHREAD = {"GUNICORN_WORKER_CLASS": "gthread"}
CLASSES = {
    "sync": ("sync", {"GUNICORN_WORKER_CLASS": "sync"}),
    "gthread4": ("gthread, 4 threads", {**_GTHREAD, "GUNICORN_THREADS": "4"}),
    "gthread8": ("gthread, 8 threads", {**_GTHREAD, "GUNICORN_THREADS": "8"}),
    "gevent": ("gevent", {"GUNICORN_WORKER_CLASS": "gevent"}),  # 1,000 connections a worker
}
MEASURED = ("product", "order")

_GEVENT_PROBE = """
import json, sys, time
from gevent import monkey
monkey.patch_all()
import gevent, psycopg, psycopg.waiting

def nap():
    with psycopg.connect(sys.argv[1]) as connection:
        connection.execute("SELECT pg_sleep(0.25)")

for _ in range(2):  # the first round pays for the connections' start-up
    started = time.perf_counter()
    gevent.joinall([gevent.spawn(nap) for _ in range(4)], raise_error=True)
    elapsed = time.perf_counter() - started
print(json.dumps({"wait": psycopg.waiting.wait.__name__, "seconds": elapsed}))
"""


def gevent_yields(url: str, env: dict) -> dict:
    """Whether psycopg's queries let other greenlets run under gevent, and the control."""
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    outcome = {}
    for name, extra in (("patched", {}), ("control_wait_c", {"PSYCOPG_WAIT_FUNC": "wait_c"})):
        result = subprocess.run(
            [sys.executable, "-c", _GEVENT_PROBE, libpq_url],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            return {"installed": False, "why": result.stderr.strip().splitlines()[-1]}
        outcome[name] = json.loads(result.stdout)
    outcome["installed"] = True
    # Four naps of 0.25 s: concurrent ≈ 0.25 s, one after another ≈ 1 s.
    outcome["yields"] = outcome["patched"]["seconds"] < 0.6
    outcome["control_blocks"] = outcome["control_wait_c"]["seconds"] >= 0.9
    return outcome


def round_trip_ms(url: str, samples: int = 50) -> float:
    """The median time of ``SELECT 1`` over one connection to ``url``, in ms."""
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url) as connection:
        connection.execute("SELECT 1")
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            connection.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def ensure_database(url: str) -> None:
    """Create the benchmark's own database if it does not exist (never someone else's)."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            db.execute(f'CREATE DATABASE "{parsed.database}"')


def _proxied(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def run(settings: Settings, classes: list[str], delay_ms: float) -> dict:
    """Every class at both delays, ``settings.rounds`` times; returns the results document."""
    started = time.monotonic()
    url = settings.database_url
    ensure_database(url)
    log(f"seed: {settings.size.products:,} products on {make_url(url).database}")
    run_url, reused = working_copy(url, settings.size, log=lambda m: log("  " + m))
    env = production_env(run_url)
    gevent_check = gevent_yields(run_url, env)
    log(f"gevent: {gevent_check}")
    if not gevent_check["installed"]:
        classes = [name for name in classes if name != "gevent"]
    target = make_url(run_url)
    proxy = DelayProxy((target.host or "127.0.0.1", target.port or 5432), delay_ms).start()
    delays = {"0 ms": run_url, f"{delay_ms:g} ms each way": _proxied(run_url, proxy.port)}
    scenarios = [s for s in SCENARIOS if s.name in MEASURED]
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            "products": settings.size.products,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "workers": WORKERS,
            "rounds": settings.rounds,
            "delay_ms": delay_ms,
            "classes": {name: CLASSES[name][0] for name in classes},
            "seed_reused": reused,
        },
        "gevent": gevent_check,
        "round_trip_ms": {name: round_trip_ms(db_url) for name, db_url in delays.items()},
        "runs": [],
    }
    log(f"round trips: {results['round_trip_ms']}")
    try:
        for number in range(1, settings.rounds + 1):
            for delay, db_url in delays.items():
                for name in classes if number % 2 else classes[::-1]:
                    app = app_server(
                        production_env(db_url, RESPONSE_CACHE="0", **CLASSES[name][1]),
                        WORK / "logs" / f"workers-{name}.log",
                        name=f"app ({name})",
                    )
                    log(f"round {number}, {delay}, {name}")
                    session = Session(settings, None, settings.size, run_url, apps={name: app})
                    measured = session.run(scenarios, rounds=1)["scenarios"]
                    used = worker_class_used(app.log_path.parent, app.log_path.name)
                    if used != name.rstrip("0123456789"):
                        raise RuntimeError(f"asked gunicorn for {name}, it ran {used}")
                    for scenario in scenarios:
                        entry = measured[scenario.name]
                        runs = entry["servers"].get(name, {}).get("runs", [])
                        results["runs"].append(
                            {
                                **(runs[0] if runs else {}),
                                "round": number,  # the session's own count is always 1
                                "delay": delay,
                                "class": name,
                                "scenario": scenario.name,
                                "why": entry["why"] or entry["servers"].get(name, {}).get("why"),
                            }
                        )
    finally:
        proxy.stop()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    return results


# --- the page -----------------------------------------------------------------------


def _cells(results: dict, name: str, scenario: str, delay: str) -> dict | None:
    runs = [
        r
        for r in results["runs"]
        if r["class"] == name and r["scenario"] == scenario and r["delay"] == delay and "rps" in r
    ]
    if not runs:
        return None
    stock = [r["stock_invariant"]["holds"] for r in runs if "stock_invariant" in r]
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "low": min(r["rps"] for r in runs),
        "high": max(r["rps"] for r in runs),
        "p99": statistics.median(r["latency_ms"]["p99"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "stock_exact": all(stock) if stock else None,
    }


def summarize(results: dict) -> dict:
    """Per scenario and delay: each class's median req/s, and the fastest class."""
    delays = list(results["round_trip_ms"])
    summary = {}
    for scenario in MEASURED:
        for delay in delays:
            figures = {
                name: _cells(results, name, scenario, delay)
                for name in results["settings"]["classes"]
            }
            measured = {k: v for k, v in figures.items() if v and not v["failed"]}
            fastest = max(measured, key=lambda k: measured[k]["rps"]) if measured else None
            summary[f"{scenario}|{delay}"] = {"figures": figures, "fastest": fastest}
    return summary


def _cell(figure: dict | None, best: bool) -> str:
    if figure is None:
        return "not measured"
    spread = (
        "" if figure["low"] == figure["high"] else f" ({figure['low']:,.0f}–{figure['high']:,.0f})"
    )
    text = f"{figure['rps']:,.0f}{spread}, p99 {figure['p99']:.0f} ms"
    if figure["failed"]:
        text += f", **{figure['failed']:,} failed**"
    if figure["stock_exact"] is False:
        text += ", **stock not exact**"
    return f"**{text}**" if best and not figure["failed"] else text


def markdown(results: dict, source: str) -> str:
    """The page: the gevent check, the round trips, and req/s per class."""
    s = results["settings"]
    m = results["machine"]
    summary = summarize(results)
    delays = list(results["round_trip_ms"])
    g = results["gevent"]
    if not g["installed"]:
        gevent_text = f"gevent is not installed here ({g['why']}), so it was not measured."
    else:
        gevent_text = (
            f"Four greenlets each running `SELECT pg_sleep(0.25)` after `monkey.patch_all()` "
            f"took {g['patched']['seconds']:.2f} s together with psycopg's own choice of wait "
            f"function (`{g['patched']['wait']}`), and {g['control_wait_c']['seconds']:.2f} s "
            "with `PSYCOPG_WAIT_FUNC=wait_c`, its C wait, which gevent cannot patch. So "
            + (
                "psycopg 3 does yield under gevent: it sees the patched `select` when it is "
                "imported and waits through it instead of in C."
                if g["yields"]
                else "psycopg 3 does **not** yield under gevent here: each query blocks its worker."
            )
        )
    busy = m["load_average_at_start"] >= BUSY_LOAD  # at the end it is its own load
    preliminary = s["duration_s"] < 5 or s["rounds"] < 2 or s["warmup_s"] < 1 or busy
    lines = [
        "# Benchmarks: gunicorn worker classes",
        "",
        f"<!-- Generated by `make bench-workers` (bench/workers.py) from {source}. "
        "Edit the generator, not this file. -->",
        "",
        *(
            [
                "> **Preliminary figures**: a short run (shorter or fewer rounds than "
                "`make bench-workers` makes), or a busy machine (see the load averages). "
                "Not the figures to decide by; a full run on a quiet machine is.",
                "",
            ]
            if preliminary
            else []
        ),
        f"Measured {results['started_at'][:16].replace('T', ' ')} UTC on commit "
        f"`{results['commit']}`: {m['cpu']}, {m['cpus']} CPUs, Python {m['python']}, "
        f"1-minute load average {m['load_average_at_start']:.1f} at the start, "
        f"{m['load_average_at_end']:.1f} at the end. PostgreSQL on the same machine, "
        f"{s['products']:,} products.",
        "",
        f"**How**: the app as in production, {s['workers']} workers of each class (set with "
        "`GUNICORN_WORKER_CLASS` and `GUNICORN_THREADS`), response cache off so that "
        "every read reaches the database; wrk with "
        f"{s['connections']} connections, {s['warmup_s']:g} s warm-up, {s['duration_s']:g} s "
        "measured. The point read draws random ids over the hot products; `POST /orders` "
        "buys two products and its stock check must be exact. Each figure is the median "
        f"req/s over {s['rounds']} rounds (lowest–highest in brackets) and the median p99; "
        "the fastest class of each column is in bold. The delayed database is "
        "`bench/delay_proxy.py` between the app and PostgreSQL, delaying every chunk "
        f"{s['delay_ms']:g} ms each way; a `SELECT 1` took "
        + ", ".join(f"{ms:.2f} ms at {d}" for d, ms in results["round_trip_ms"].items())
        + ".",
        "",
        f"**Does psycopg 3 yield under gevent?** {gevent_text}",
        "",
        "| worker class | "
        + " | ".join(
            f"{label} req/s, {delay}"
            for label in ("point read", "POST /orders")
            for delay in delays
        )
        + " |",
        "| --- | " + " | ".join("---:" for _ in MEASURED for _ in delays) + " |",
    ]
    for name, title in s["classes"].items():
        cells = [
            _cell(
                summary[f"{scenario}|{delay}"]["figures"][name],
                summary[f"{scenario}|{delay}"]["fastest"] == name,
            )
            for scenario in MEASURED
            for delay in delays
        ]
        lines.append(f"| {title} | {' | '.join(cells)} |")
    lines += [
        "",
        "What this means for the default class, and for async views: "
        "[`performance.md`](performance.md#worker-class-and-async-views).",
        "",
        "```sh",
        "make bench-workers",
        "BENCH_DB_DELAY_MS=2 BENCH_CLASSES=sync,gthread8 make bench-workers  # ~4.5 ms a trip",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the worker-class benchmark and write its page."""
    env = os.environ.get
    settings = Settings(
        bench_set="workers",
        size=Size(int(env("BENCH_PRODUCTS") or 100_000), int(env("BENCH_ORDERS") or 10_000)),
        database_url=env("BENCH_DATABASE_URL") or DEFAULT_URL,
        duration=float(env("BENCH_DURATION") or 5),
        warmup=float(env("BENCH_WARMUP") or 1),
        connections=int(env("BENCH_CONNECTIONS") or 32),
        scaling=[],
        only=None,
        rounds=int(env("BENCH_ROUNDS") or 2),
        variants=[],
        peers=False,
    )
    classes = [c.strip() for c in (env("BENCH_CLASSES") or ",".join(CLASSES)).split(",")]
    unknown = set(classes) - set(CLASSES)
    if unknown:
        sys.exit(f"BENCH_CLASSES: unknown {sorted(unknown)}; known: {', '.join(CLASSES)}")
    if not (BIN / "gunicorn").exists():
        sys.exit("gunicorn is not in the venv: run `make bench-workers`")
    results = run(settings, classes, float(env("BENCH_DB_DELAY_MS") or 1.0))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"workers-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    page = Path(env("BENCH_DOCS") or ROOT / "docs") / REPORT
    page.write_text(markdown(results, f"bench/results/{path.name}"))
    log(f"results: {path.relative_to(ROOT)}")
    log(f"report:  {page}")
    log(f"elapsed: {results['elapsed_s']:.0f} s")
    broken = [
        f"{r['class']} at {r['delay']}, round {r['round']}"
        for r in results["runs"]
        if "stock_invariant" in r and not r["stock_invariant"]["holds"]
    ]
    if broken:
        sys.exit(f"STOCK NOT EXACT after POST /orders: {', '.join(broken)}")


if __name__ == "__main__":
    main()
