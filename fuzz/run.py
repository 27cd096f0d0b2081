"""Run the fuzz targets with a time budget, each in its own process, and report what they found.

    python -m fuzz.run [--seconds N] [--jobs J] [--workdir DIR] [--runs N] [TARGET ...]

``atheris.Fuzz()`` never returns (libFuzzer exits the process), so every target
runs in a subprocess: libFuzzer reads the committed seeds
(``fuzz/corpus/<target>/``) and keeps the inputs it finds interesting in
``<workdir>/<target>/corpus`` (so a later run with the same workdir resumes
from them), stops after ``--seconds`` (``-max_total_time``) or ``--runs``
inputs, and writes a failing input as ``<workdir>/<target>/crash-*`` (or
``timeout-*``, for an input that takes over ``--timeout`` seconds). Replay one
with ``python -m fuzz.<target> <that file>``. Each target gets a fresh
database of the kind the tests use (SQLite, or PostgreSQL when
``TEST_DATABASE_URL`` is set). The exit status is 1 when any target found
something.
"""

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
TARGETS = ("json_body", "cursor", "query", "multipart", "headers")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
# The files libFuzzer names after what an input did.
_ARTIFACTS = ("crash", "timeout", "oom", "leak")
# Bodies of a few kilobytes reach every bound but the size limits, which the tests cover.
MAX_LEN = 16384


@dataclass(frozen=True)
class Result:
    """What one target's run did: its exit status, libFuzzer's output and any failing inputs."""

    target: str
    returncode: int
    output: str
    artifacts: tuple[Path, ...]

    @property
    def runs(self) -> int:
        """Inputs executed (0 when libFuzzer did not get to its summary)."""
        done = _DONE.search(self.output)
        return int(done.group(1)) if done else 0

    @property
    def found(self) -> bool:
        """Whether the target failed: a finding, or a target that could not run."""
        return self.returncode != 0 or bool(self.artifacts)

    def report(self) -> str:
        """A summary line, and for a failure the end of the output and the inputs to replay."""
        if not self.found:
            return f"{self.target}: {self.runs} inputs, nothing found"
        tail = "\n".join(self.output.splitlines()[-80:])
        replay = "\n".join(f"  python -m fuzz.{self.target} {path}" for path in self.artifacts)
        return f"{self.target}: FOUND (exit {self.returncode})\n{tail}\nreplay with:\n{replay}"


def run_target(
    target: str, *, seconds: int, workdir: Path, runs: int | None = None, timeout: int = 20
) -> Result:
    """Fuzz ``target`` for ``seconds`` (or ``runs`` inputs) in a subprocess, on a fresh database."""
    work = workdir / target
    found = work / "corpus"
    found.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-max_total_time={seconds}",
        f"-timeout={timeout}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={work}/",
        "-print_final_stats=1",
    ]
    if runs is not None:
        flags.append(f"-runs={runs}")
    with fresh_database(work) as url:
        completed = subprocess.run(
            [sys.executable, "-m", f"fuzz.{target}", str(found), str(CORPUS / target), *flags],
            cwd=ROOT.parent,
            env={**os.environ, "FUZZ_DATABASE_URL": url},
            capture_output=True,
            text=True,
            errors="replace",
            # libFuzzer stops itself; this only ends a process that hangs outside it.
            timeout=seconds + 10 * timeout + 120,
            check=False,
        )
    artifacts = tuple(sorted(path for kind in _ARTIFACTS for path in work.glob(f"{kind}-*")))
    return Result(target, completed.returncode, completed.stdout + completed.stderr, artifacts)


def run_all(
    targets=TARGETS, *, seconds: int, workdir: Path, jobs: int = 1, runs: int | None = None
) -> dict[str, Result]:
    """Run ``targets``, ``jobs`` at a time; their results by name."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            target: pool.submit(run_target, target, seconds=seconds, workdir=workdir, runs=runs)
            for target in targets
        }
        return {target: future.result() for target, future in futures.items()}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the targets, print a report; 1 when anything was found."""
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(TARGETS)} (default: all)")
    parser.add_argument(
        "--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")), help="per target"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="targets at once")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT.parent / "build" / "fuzz",
        help="where inputs found and failing ones are kept (default: build/fuzz)",
    )
    parser.add_argument("--runs", type=int, help="stop after this many inputs (0: seeds only)")
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"no such target: {', '.join(sorted(unknown))}")
    results = run_all(
        args.targets or TARGETS,
        seconds=args.seconds,
        workdir=args.workdir,
        jobs=args.jobs,
        runs=args.runs,
    )
    for result in results.values():
        print(result.report())
    return 1 if any(result.found for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
