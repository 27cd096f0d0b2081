"""Generate the client SDKs from openapi/openapi.json into build/sdk/ (never committed).

Both come from openapi-generator (the ``openapi-generator-cli`` pinned in
requirements-dev.txt, the same tool that derives openapi.json; it needs only
Java). Method names come from the explicit operationIds: ``listProducts``
becomes ``list_products`` in Python and ``listProducts`` in TypeScript.

    python -m tools.sdk                   # both, into build/sdk/python and build/sdk/typescript
    python -m tools.sdk python --out DIR  # one, elsewhere

``make sdk`` runs the first line.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tools.openapi.converter import converter_command

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "openapi.json"
SDK_DIR = ROOT / "build" / "sdk"
PYTHON_PACKAGE = "storefront_client"

# generator name and its options, per language. Generated unit tests are
# empty stubs, so they are left out; the docs and READMEs are kept.
GENERATORS = {
    "python": (
        "python",
        {"packageName": PYTHON_PACKAGE, "projectName": "storefront-client"},
    ),
    "typescript": (
        "typescript-fetch",
        {"npmName": "storefront-client", "supportsES6": "true"},
    ),
}
VERSION_OPTION = {"python": "packageVersion", "typescript": "npmVersion"}


class GenerationError(RuntimeError):
    """openapi-generator failed; the message carries the end of its log."""


def generate(language: str, out: Path | None = None, spec: Path = SPEC) -> Path:
    """Generate the ``language`` SDK from ``spec`` into ``out`` (replaced) and return it.

    The package's version is the contract's ``info.version``.
    """
    generator, options = GENERATORS[language]
    out = out or SDK_DIR / language
    version = json.loads(spec.read_text(encoding="utf-8"))["info"]["version"]
    properties = {**options, VERSION_OPTION[language]: version}
    # Files of operations that no longer exist must not survive a regeneration.
    shutil.rmtree(out, ignore_errors=True)
    result = subprocess.run(  # noqa: S603 (a fixed command on our own files)
        [
            *converter_command(),
            "generate",
            "--generator-name",
            generator,
            "--input-spec",
            str(spec),
            "--output",
            str(out),
            "--additional-properties",
            ",".join(f"{key}={value}" for key, value in properties.items()),
            "--global-property",
            "apiTests=false,modelTests=false",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        log = (result.stderr + result.stdout).strip()[-3000:]
        raise GenerationError(f"openapi-generator {generator} failed:\n{log}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the named SDKs (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("languages", nargs="*", help=f"any of {', '.join(GENERATORS)} (all)")
    parser.add_argument("--out", type=Path, help="output directory (one language only)")
    args = parser.parse_args(argv)
    args.languages = args.languages or [*GENERATORS]
    unknown = sorted(set(args.languages) - set(GENERATORS))
    if unknown:
        parser.error(f"unknown language {', '.join(unknown)}: choose from {', '.join(GENERATORS)}")
    if args.out and len(args.languages) != 1:
        parser.error("--out needs exactly one language")
    for language in args.languages:
        path = generate(language, args.out)
        print(f"{language} SDK: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
