"""The generated SDKs, used for real against a live, seeded gunicorn.

Python: generated from openapi/openapi.json, installed with pip into a fresh
virtualenv (its dependencies come from PyPI), and driven through sdk_story.py.
TypeScript: generated, compiled with ``tsc --strict`` together with
sdk_story.ts, and run with node against the same server.

Slow (the generator is a JVM, pip installs pydantic), yet part of ``make test``:
a contract change that breaks a generated client must fail the build.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.live import ROOT, seeded_server
from tools.sdk import generate

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
TSC = NODE_MODULES / ".bin" / "tsc"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A job worker too: the story imports a catalog and polls the job to its end.
    with seeded_server(tmp_path_factory.mktemp("sdk-live"), job_worker_too=True) as live:
        yield live


def run(*command, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run a command; fail the test with its output unless it succeeds."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_python_sdk_tells_the_whole_story(server, tmp_path):
    package = generate("python", tmp_path / "python")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", package)
    # The story must import the installed package, not anything of this repository.
    output = run(python, "-I", HERE / "sdk_story.py", server.url, cwd=tmp_path)
    assert "story complete" in output


def test_typescript_sdk_compiles_strictly_and_tells_the_story(server, tmp_path):
    assert TSC.exists(), "TypeScript is missing: run `npm ci` (make does it)"
    generate("typescript", tmp_path / "sdk")
    shutil.copy(HERE / "sdk_story.ts", tmp_path)
    # --strict over the story and, through its imports, every API and model.
    run(
        TSC,
        "--strict",
        "--target",
        "es2022",
        "--module",
        "commonjs",
        "--lib",
        "es2022,dom",
        "--types",
        "node",
        "--typeRoots",
        NODE_MODULES / "@types",
        "--outDir",
        tmp_path / "js",
        "--rootDir",
        tmp_path,
        tmp_path / "sdk_story.ts",
    )
    assert "story complete" in run("node", tmp_path / "js" / "sdk_story.js", server.url)


def readme_snippet(language: str) -> str:
    """The one code block of ``language`` in README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(rf"^```{language}\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    return block


def test_the_readme_typescript_snippet_runs_as_written(server, tmp_path):
    snippet = readme_snippet("ts")
    # Its first lines say where to save it and the command that runs it.
    name = re.match(r"// (\S+\.ts):", snippet).group(1)
    command = re.search(r"^//   (.+)$", snippet, re.MULTILINE).group(1)
    (tmp_path / name).write_text(snippet, encoding="utf-8")
    generate("typescript", tmp_path / "build" / "sdk" / "typescript")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)

    # As a reader pastes it into a shell.
    output = run("bash", "-c", command, cwd=tmp_path, env={**os.environ, "API_URL": server.url})

    assert "MUG-001 1299" in output  # the demo catalog, cheapest under 20.00 last
    assert "404" in output
    assert "Product 424242 does not exist" in output
