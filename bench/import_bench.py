"""Catalog import speed, and what it costs the API: ``make bench-import``.

Starts the app under gunicorn exactly as production runs it and one job worker
(``flask --app wsgi worker --threads 1``) on a fresh database, measures the
point-read throughput of ``GET /api/v1/products/{id}`` with wrk while nothing
else runs, then imports a generated catalog of ``BENCH_IMPORT_LINES`` lines
(100,000 by default; one in fifty updates an existing product, one in a
thousand is invalid) and measures the same reads, in slices, for as long as the
import runs. Reports lines per second and both read throughputs, and writes
``docs/import-benchmark.md``; the raw numbers go to ``bench/results/``.

SQLite by default; ``BENCH_DATABASE_URL`` for PostgreSQL (then the queue is
still the SQLite one in the job folder unless ``BENCH_REDIS_URL`` is set).
Target: at least 5,000 lines per second on SQLite.
"""

import json
import os
import secrets
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.run import WRK_TIMEOUT_S, machine, wrk
from bench.server import BIN, ROOT, app_server, http, production_env

LINES = int(os.environ.get("BENCH_IMPORT_LINES", "100000"))
EXISTING = 2000  # products imported first: point-read targets, and what the big import updates
READ_SECONDS = 5
SLICE_SECONDS = 2
CONNECTIONS = 8
TARGET_LINES_PER_SECOND = 5000
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "docs" / "import-benchmark.md"
HEADER = "sku,name,description,price_cents,stock\n"


def expect(condition: bool, what) -> None:
    """Stop the run, saying ``what``, unless ``condition`` holds."""
    if not condition:
        raise RuntimeError(f"bench-import: unexpected answer: {what!r}"[:2000])


def log(message: str) -> None:
    """Progress on the terminal."""
    print(f"[bench-import] {message}", flush=True)


def generated_catalog(lines: int) -> bytes:
    """The big file: new SKUs, every 50th line an existing SKU, every 1000th invalid."""
    rows = [HEADER]
    for n in range(lines):
        if n % 1000 == 999:
            rows.append(f"BAD-{n},Broken {n},,-1,1\n")
        elif n % 50 == 0:
            rows.append(f"OLD-{(n // 50) % EXISTING},Updated {n},Now imported,{n},{n % 9}\n")
        else:
            rows.append(f"NEW-{n},Product {n},A generated product,{100 + n % 9000},{n % 50}\n")
    return "".join(rows).encode()


def multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``data`` as the ``file`` field; (body, content type)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Bench:
    """One run: the server, the worker, an admin token, and the measurements."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        database = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{scratch / 'bench.db'}"
        self.database = "PostgreSQL" if database.startswith("postgres") else "SQLite"
        extra = {"JOB_FOLDER": str(scratch / "jobs"), "JOB_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"}
        if os.environ.get("BENCH_REDIS_URL"):
            extra["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
        self.env = production_env(database, **extra)
        self.password = secrets.token_urlsafe(16)
        self.server = app_server(self.env, scratch / "server.log")
        self.worker = None
        self.token = ""

    def flask(self, *args: str, **env: str) -> None:
        """Run a ``flask --app wsgi`` command with the bench's environment."""
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env={**self.env, **env},
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Migrate, create the admin, start gunicorn and the worker, log in."""
        self.flask("db", "upgrade")
        self.flask("create-admin", "--email", "bench@example.com", ADMIN_PASSWORD=self.password)
        self.server.start()
        worker_log = (self.scratch / "worker.log").open("wb")
        self.worker = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "worker", "--threads", "1"],
            cwd=ROOT,
            env=self.env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        body = json.dumps({"email": "bench@example.com", "password": self.password}).encode()
        status, _, answer = http(
            self.server.url + "/api/v1/auth/login",
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        expect(status == 200, answer)
        self.token = json.loads(answer)["access_token"]

    def stop(self) -> None:
        """Stop the worker and gunicorn."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=60)
        self.server.stop()

    def import_file(self, data: bytes) -> tuple[dict, float, float]:
        """Import ``data`` and wait for the job; (final job, seconds running, seconds in all)."""
        body, content_type = multipart(data)
        posted = time.monotonic()
        status, headers, answer = http(
            self.server.url + "/api/v1/products/imports",
            method="POST",
            body=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        expect(status == 202, answer)
        location, running_since = headers["Location"], None
        while True:
            job = self.job(location)
            if running_since is None and job["status"] != "queued":
                running_since = time.monotonic()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                ended = time.monotonic()
                return job, ended - (running_since or posted), ended - posted
            time.sleep(0.05)

    def job(self, location: str) -> dict:
        """The job at ``location``."""
        status, _, answer = http(
            self.server.url + location, headers={"Authorization": f"Bearer {self.token}"}
        )
        expect(status == 200, answer)
        return json.loads(answer)

    def reads(self, seconds: float):
        """wrk on one product's point read."""
        return wrk(
            self.server.url + "/api/v1/products/1000",
            seconds=seconds,
            connections=CONNECTIONS,
            script="summary.lua",
        )

    def reads_during(self, data: bytes) -> tuple[dict, float, float, list]:
        """Import ``data`` while wrk reads in slices; (job, running s, total s, slices)."""
        body, content_type = multipart(data)
        status, headers, answer = http(
            self.server.url + "/api/v1/products/imports",
            method="POST",
            body=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        expect(status == 202, answer)
        started, slices = time.monotonic(), []
        while True:
            job = self.job(headers["Location"])
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            slices.append(self.reads(SLICE_SECONDS))
        ended = time.monotonic()
        running = _seconds_between(job["started_at"], job["finished_at"])
        return job, running, ended - started, slices


def _seconds_between(start: str, end: str) -> float:
    """The most seconds a job can have run between two of its RFC 3339 timestamps.

    The API gives them to the whole second, so the true span is up to a second
    longer than their difference: adding that second keeps the rate derived from
    it a lower bound.
    """
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() + 1.0


def report(result: dict) -> str:
    """The Markdown summary of a run."""
    verdict = "meets" if result["lines_per_second"] >= TARGET_LINES_PER_SECOND else "misses"
    lines = (
        f"{result['lines']:,} ({result['created']:,} created, {result['updated']:,} updated, "
        f"{result['failed']:,} reported)"
    )
    speed = f"{result['lines_per_second']:,.0f}"
    idle = f"{result['reads_idle']:,.0f} (p99 {result['p99_idle_ms']:.1f} ms)"
    during = f"{result['reads_during']:,.0f} (p99 {result['p99_during_ms']:.1f} ms)"
    busy = (
        "\n**The machine was busy** (its load average was above its CPU count when the run "
        "started): other work took most of the CPUs, so every figure here is a lower bound. "
        "Run it again on a quiet machine for numbers to compare.\n"
        if result["busy"]
        else ""
    )
    return f"""# Catalog import benchmark

`make bench-import` ({result["when"]}, {result["database"]}, {result["machine"]}).
One job worker (`flask --app wsgi worker --threads 1`) beside gunicorn with
{result["web_workers"]} sync workers, on the same machine as the load generator.

| measurement | value |
| --- | --- |
| lines imported | {lines} |
| import time (job running, at most) | {result["running_seconds"]:.0f} s |
| import time (upload to `succeeded` seen, while reading) | {result["wall_seconds"]:.1f} s |
| **lines per second, at least** | **{speed}** (target {TARGET_LINES_PER_SECOND:,}: {verdict} it) |
| point reads per second, idle | {idle} |
| point reads per second, during the import | {during} |

Point reads are `GET /api/v1/products/1000` with wrk ({CONNECTIONS} connections);
during the import they run in {SLICE_SECONDS}-second slices for as long as the job
runs, so the worker and the web workers share the machine's CPUs, as they would
on one host. The import's lines per second use the job's own `started_at` and
`finished_at`: they are whole seconds, so the span is taken a second longer than
their difference, which makes the rate a lower bound. The wall time also counts the
upload, the queue and up to one {SLICE_SECONDS}-second read slice after the end.
Chunks of 500 lines are committed one transaction each; on SQLite each commit
also briefly holds the database's single write lock,
which point reads (in WAL mode) never wait for.
{busy}"""


def main() -> None:
    """Run the benchmark and write its report."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scratch = RESULTS / f"import-{stamp}"
    scratch.mkdir(parents=True, exist_ok=True)
    bench = Bench(scratch)
    try:
        log(f"starting the app and a worker on {bench.database} in {scratch}")
        bench.start()
        seed = HEADER + "".join(f"OLD-{n},Old {n},,{n},1\n" for n in range(EXISTING))
        bench.import_file(seed.encode())
        log(f"idle point reads for {READ_SECONDS} s")
        idle = bench.reads(READ_SECONDS)
        log(f"importing {LINES:,} lines while reading")
        job, running, total, slices = bench.reads_during(generated_catalog(LINES))
    finally:
        bench.stop()
    expect(job["status"] == "succeeded", job)
    requests = sum(s.requests for s in slices)
    seconds = sum(s.seconds for s in slices) or 1
    result = {
        "when": stamp,
        "database": bench.database,
        "machine": "{cpus} CPUs, {cpu}, load average {load:.1f} at the start".format(
            cpus=(info := machine())["cpus"], cpu=info["cpu"], load=info["load_average_at_start"]
        ),
        "busy": info["load_average_at_start"] > info["cpus"],
        "web_workers": 2,
        "lines": LINES,
        **{key: job["result"][key] for key in ("created", "updated", "failed")},
        "running_seconds": running,
        "wall_seconds": total,
        "lines_per_second": LINES / running,
        "reads_idle": idle.rps,
        "p99_idle_ms": idle.latency_ms["p99"],
        "reads_during": requests / seconds,
        "p99_during_ms": max((s.latency_ms["p99"] for s in slices), default=0.0),
        "read_errors_during": sum(s.failed for s in slices),
        "wrk_timeout_s": WRK_TIMEOUT_S,
    }
    (scratch / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    REPORT.write_text(report(result))
    log(
        f"{result['lines_per_second']:,.0f} lines/s; point reads {result['reads_idle']:,.0f}/s "
        f"idle, {result['reads_during']:,.0f}/s during the import; wrote {REPORT}"
    )


if __name__ == "__main__":
    main()
