"""The README's curl walkthroughs, pasted into bash against a live, seeded gunicorn.

A reader copies them as they are: each block must run to its end, and what
its comments say the server answers (a status line, a header, the fields of a
JSON body) must be what the server answers. Only the server's address is
replaced, by the live one's.
"""

import json
import re
import shutil
import subprocess

import pytest

from tests.e2e.live import ROOT, seeded_server

pytestmark = pytest.mark.slow

README_URL = "http://127.0.0.1:8000"
BASH = shutil.which("bash") or "/bin/bash"
# A comment that quotes the answer: a status line, a header, or a JSON body
# (continued on comment lines indented by one more space).
STATUS_LINE = re.compile(r"^# (HTTP/1\.1 \d{3} .+)$", re.MULTILINE)
HEADER = re.compile(r"^# ([A-Z][A-Za-z-]+): (\S.*)$", re.MULTILINE)
BODY = re.compile(r"^# (\{.*(?:\n#  .*)*)", re.MULTILINE)
# "key": value pairs a body comment claims; "…" and "..." stand for what varies.
PAIR = re.compile(r'"(\w+)": ("[^"]*"|-?\d+|true|false|null)')
ELIDED = ("…", "...")


def shell_blocks() -> list[str]:
    """Every ``sh`` block of README.md that talks to the API with curl."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    return [block for block in blocks if "curl" in block and "API=" in block]


def claims(block: str) -> tuple[list[str], list[tuple[str, str]], list[list[tuple[str, object]]]]:
    """What ``block``'s comments say the server answers: lines, headers, bodies' fields."""
    headers = [
        (name, value)
        for name, value in HEADER.findall(block)
        if not any(mark in value for mark in ELIDED)
    ]
    bodies = [
        [
            (key, json.loads(value))
            for key, value in PAIR.findall(body)
            if value.strip('"') not in ELIDED
        ]
        for body in BODY.findall(block)
    ]
    return STATUS_LINE.findall(block), headers, bodies


def fields(document) -> set[tuple[str, str]]:
    """Every (key, value) pair at any depth of a JSON document, values as JSON text."""
    found = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if not isinstance(value, dict | list):
                found.add((key, json.dumps(value)))
            found |= fields(value)
    elif isinstance(document, list):
        for value in document:
            found |= fields(value)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A job worker too: the jobs walkthrough polls an import to its end.
    with seeded_server(tmp_path_factory.mktemp("readme-live"), job_worker_too=True) as live:
        yield live


def test_the_readme_has_curl_walkthroughs():
    # An order, and a job: if a rewrite drops them, this test would check nothing.
    blocks = shell_blocks()
    assert any("/orders" in block for block in blocks)
    assert any("/products/imports" in block for block in blocks)


@pytest.mark.parametrize("number", range(len(shell_blocks())))
def test_a_readme_curl_walkthrough_runs_and_the_server_answers_what_it_says(
    server, tmp_path, number
):
    block = shell_blocks()[number]
    assert README_URL in block
    result = subprocess.run(
        [BASH, "-euo", "pipefail", "-c", block.replace(README_URL, server.url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout.replace("\r\n", "\n")
    answered = [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    status_lines, headers, bodies = claims(block)
    for line in status_lines:
        assert re.search(rf"^{re.escape(line)}$", output, re.MULTILINE), line
    for name, value in headers:
        assert re.search(rf"^{name}: {re.escape(value)}$", output, re.MULTILINE), (name, value)
    assert bodies, "a walkthrough shows at least one answer"
    for claimed in bodies:
        # One response has every field the comment shows (others may differ).
        wanted = {(key, json.dumps(value)) for key, value in claimed}
        assert any(wanted <= fields(document) for document in answered), claimed
