"""The breaking-change guard: fail when openapi/openapi.json breaks existing clients.

A client generated from an earlier contract keeps working only if no operation
or response field it uses disappears, no input it never sent becomes
required, and no value it may send is refused (a narrowed enum or type). The
comparison is Optic's (``@useoptic/optic``, pinned in package.json, installed
into node_modules/ by ``make``; it runs offline and sends nothing anywhere: its
telemetry needs a key we never give it), with the rules in optic-standard.yml:
a breaking change passes only when ``info.version``'s major part was raised,
which tells clients to expect it.

Which earlier contract (``base_ref``):

1. ``OPENAPI_BASE_REF`` when set: a pipeline that knows better (a pull
   request's target branch) says so.
2. Otherwise the last tag reachable from HEAD: tags are releases, and a
   release is what clients generate SDKs from, so changes between two
   releases are judged together.
3. Without any tag, the previous commit: every commit on main may have been
   deployed and used, so each must be compatible with its parent. (The merge
   base is no use here: CI runs in a clone of main itself, where it is HEAD.)

When the base has no openapi/openapi.json yet, there is nothing to break.

Run it as ``python -m tools.breaking`` (``make breaking-check``; CI runs it).
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "openapi/openapi.json"
OPTIC = ROOT / "node_modules" / ".bin" / "optic"
STANDARD = Path(__file__).resolve().parent / "optic-standard.yml"


class GuardError(RuntimeError):
    """The comparison could not be made (Optic missing or crashed, unknown revision)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing two contracts: whether CI fails, and Optic's report."""

    breaking: bool
    report: str


def compare(base: dict, head: dict) -> Verdict:
    """Compare two OpenAPI 3 documents with the rules in optic-standard.yml.

    A break counts only when info.version's major part stayed the same.
    """
    with tempfile.TemporaryDirectory(prefix="breaking-") as scratch:
        for name, document in (("base.openapi.json", base), ("head.openapi.json", head)):
            (Path(scratch) / name).write_text(json.dumps(document, indent=1), encoding="utf-8")
        status, output = _optic(scratch, "base.openapi.json", "head.openapi.json")
    report = f"info.version {base['info']['version']} -> {head['info']['version']}\n{output}"
    if status == 0:
        return Verdict(breaking=False, report=report)
    # Optic exits non-zero both for failed checks and for its own crashes;
    # only a run that checked something prints "Checks: passed/total".
    if not any("Checks:" in line for line in output.splitlines()):
        raise GuardError(f"optic failed (exit {status}):\n{output[-3000:]}")
    return Verdict(breaking=True, report=report)


def _optic(cwd: str, base_file: str, head_file: str) -> tuple[int, str]:
    if not OPTIC.exists():
        raise GuardError(f"{OPTIC} is missing: run `npm ci` (or any `make` target that needs it)")
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
        "NO_UPDATE_NOTIFIER": "1",  # no version check against the registry on every run
        "OPTIC_TELEMETRY_LEVEL": "off",
    }
    result = subprocess.run(  # noqa: S603 (fixed tool, files we wrote)
        [str(OPTIC), "diff", base_file, head_file, "--check", "--standard", str(STANDARD)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _git(*args: str, repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607 (git from PATH, like any developer runs it)
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def base_ref(repo: Path = ROOT) -> str | None:
    """The revision whose contract clients may rely on (see the module docstring)."""
    override = os.environ.get("OPENAPI_BASE_REF")
    if override:
        return override
    tag = _git("describe", "--tags", "--abbrev=0", "HEAD", repo=repo)
    if tag.returncode == 0 and tag.stdout.strip():
        return tag.stdout.strip()
    if _git("rev-parse", "--verify", "--quiet", "HEAD~1", repo=repo).returncode == 0:
        return "HEAD~1"
    # A shallow clone hides the history: passing for want of a base would be a lie.
    if _git("rev-parse", "--is-shallow-repository", repo=repo).stdout.strip() == "true":
        raise GuardError("shallow clone: `git fetch --unshallow --tags` to find the base contract")
    return None


def contract_at(ref: str, repo: Path = ROOT) -> dict | None:
    """openapi/openapi.json as committed at ``ref``, or None when it did not exist there."""
    if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", repo=repo).returncode != 0:
        raise GuardError(f"unknown git revision {ref!r}")
    shown = _git("show", f"{ref}:{SPEC}", repo=repo)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def _say(message: str, *, error: bool = False) -> None:
    print(message, file=sys.stderr if error else sys.stdout)


def main(repo: Path = ROOT) -> int:
    """Compare the working tree's contract with the base one; return the exit status."""
    ref = base_ref(repo)
    base = contract_at(ref, repo) if ref else None
    if base is None:
        _say(f"breaking-change check: no earlier {SPEC} (base: {ref or 'none'}), nothing to break")
        return 0
    head = json.loads((repo / SPEC).read_text(encoding="utf-8"))
    verdict = compare(base, head)
    _say(verdict.report)
    if not verdict.breaking:
        _say(f"breaking-change check: {SPEC} keeps the promises of {ref}")
        return 0
    _say(
        f"{SPEC} breaks clients of {ref}. Keep the old behaviour (add, don't remove or "
        "narrow), or raise info.version's major part if the break is intended.",
        error=True,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
