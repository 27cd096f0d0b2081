"""Export the contract to ``openapi/`` and check it for drift.

``python -m tools.openapi export`` writes ``openapi/swagger.json`` (what
flask-restx generates) and ``openapi/openapi.json`` (derived from it by
``tools.openapi.converter``, which needs Java); ``python -m tools.openapi check``
fails with a diff when either file differs from the code. ``make export`` and
``make spec-check`` run them. The serving app never imports this package: it
serves the committed OpenAPI 3 file.
"""

import difflib
import sys
from pathlib import Path

from api.docs import spec
from tools.openapi.converter import ConversionError, convert

EXPORT_HINT = "run `make export` (python -m tools.openapi export) and commit"


def exported_documents(app) -> dict[Path, str]:
    """The text each file in ``openapi/`` must have, rendered from the code."""
    swagger = spec.render_spec(app)
    return {
        spec.spec_path(app): spec.serialize(swagger),
        spec.openapi3_path(app): spec.serialize(convert(swagger)),
    }


def export(app) -> None:
    """Write the code's documents to ``openapi/``."""
    for path, text in exported_documents(app).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")


def stale_documents(app) -> list[Path]:
    """The files in ``openapi/`` that differ from the code, each diff printed to stderr."""
    stale = []
    for path, fresh in exported_documents(app).items():
        stored = path.read_text(encoding="utf-8") if path.exists() else ""
        if fresh == stored:
            print(f"{path} matches the code")
            continue
        diff = difflib.unified_diff(
            stored.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile="code",
        )
        sys.stderr.write("".join(diff))
        stale.append(path)
    return stale


def main(argv: list[str] | None = None, *, app=None) -> int:
    """Run ``export`` or ``check`` on ``app`` (default: ``create_app()``); the exit status."""
    command = (sys.argv[1:] if argv is None else argv) or ["--help"]
    if command[0] not in ("export", "check") or len(command) > 1:
        print("usage: python -m tools.openapi export|check", file=sys.stderr)
        return 0 if command[0] in ("-h", "--help") else 2
    if app is None:
        from api import create_app  # noqa: PLC0415 (only when run as a command)

        app = create_app()
    try:
        if command[0] == "export":
            export(app)
            return 0
        stale = stale_documents(app)
    except (ConversionError, spec.SpecRenderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if stale:
        print(f"error: out of date: {', '.join(map(str, stale))}; {EXPORT_HINT}", file=sys.stderr)
        return 1
    return 0
