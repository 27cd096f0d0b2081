"""The breaking-change guard (tools/breaking.py): which base it picks, and what fails.

Each comparison runs Optic (a few seconds), so the breaking changes are made
together in one modified copy of the real contract and checked by one run.
"""

import copy
import json
import subprocess

import pytest

from tests.contract import OPENAPI3_FILE
from tools.breaking import SPEC, GuardError, base_ref, compare, contract_at, main

PRODUCTS = "/api/v1/products"


@pytest.fixture(scope="module")
def contract() -> dict:
    return json.loads(OPENAPI3_FILE.read_text(encoding="utf-8"))


def broken(contract: dict) -> dict:
    """The contract with one breaking change of each kind the guard must catch."""
    spec = copy.deepcopy(contract)
    schemas = spec["components"]["schemas"]
    del spec["paths"][PRODUCTS + "/{product_id}"]["delete"]  # removed operation
    del schemas["Product"]["properties"]["stock"]  # removed response field
    listing = spec["paths"][PRODUCTS]["get"]
    listing["parameters"].append(  # new required input
        {"name": "region", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    sort = next(p for p in listing["parameters"] if p["name"] == "sort")
    sort["schema"]["enum"] = ["name"]  # narrowed enum
    schemas["ProductInput"]["properties"]["price_cents"]["type"] = "string"  # changed type
    return spec


def with_version(spec: dict, version: str) -> dict:
    spec = copy.deepcopy(spec)
    spec["info"]["version"] = version
    return spec


def git(repo, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],  # noqa: S607
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def repo(tmp_path, contract, monkeypatch):
    """A git repository whose first commit holds the real contract."""
    monkeypatch.delenv("OPENAPI_BASE_REF", raising=False)
    (tmp_path / "openapi").mkdir()
    (tmp_path / SPEC).write_text(json.dumps(contract), encoding="utf-8")
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "--quiet", "-m", "contract")
    return tmp_path


def test_the_base_is_the_last_tag_else_the_previous_commit(repo, monkeypatch):
    assert base_ref(repo) is None  # a single commit: nothing came before
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "second")
    assert base_ref(repo) == "HEAD~1"
    git(repo, "tag", "v1.0.0", "HEAD~1")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "third")
    assert base_ref(repo) == "v1.0.0"
    monkeypatch.setenv("OPENAPI_BASE_REF", "main")
    assert base_ref(repo) == "main"


def test_a_shallow_clone_is_refused_rather_than_passed(repo, tmp_path_factory):
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "second")
    shallow = tmp_path_factory.mktemp("shallow") / "clone"
    git(repo, "clone", "--quiet", "--depth", "1", f"file://{repo}", str(shallow))
    with pytest.raises(GuardError, match="shallow clone"):
        base_ref(shallow)


def test_the_base_contract_is_read_from_git(repo, contract):
    assert contract_at("HEAD", repo) == contract
    git(repo, "rm", "--quiet", SPEC)
    git(repo, "commit", "--quiet", "-m", "no contract")
    assert contract_at("HEAD", repo) is None
    with pytest.raises(GuardError, match="unknown git revision"):
        contract_at("no-such-ref", repo)


def test_a_first_contract_has_nothing_to_break(repo, capsys):
    assert main(repo) == 0
    assert "nothing to break" in capsys.readouterr().out


@pytest.mark.slow
def test_ci_fails_on_each_kind_of_breaking_change(repo, contract, capsys):
    git(repo, "tag", "v1.0.0")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "later")
    # A minor version bump does not excuse a break.
    (repo / SPEC).write_text(json.dumps(with_version(broken(contract), "1.1.0")), encoding="utf-8")
    assert main(repo) == 1
    out, err = capsys.readouterr()
    assert "breaks clients of v1.0.0" in err
    for rule in (
        "cannot remove an operation",
        "cannot remove response property 'stock'",
        "cannot add required query parameter region",
        "cannot remove enum options",
        "not to be narrowed",  # price_cents: integer -> string
    ):
        assert rule in out, rule


@pytest.mark.slow
def test_a_raised_major_version_allows_breaking_changes(contract):
    assert not compare(contract, with_version(broken(contract), "2.0.0")).breaking


@pytest.mark.slow
def test_additions_are_not_breaking(contract):
    spec = copy.deepcopy(contract)
    spec["components"]["schemas"]["Product"]["properties"]["color"] = {"type": "string"}
    spec["paths"][PRODUCTS]["get"]["parameters"].append(
        {"name": "region", "in": "query", "schema": {"type": "string"}}
    )
    assert not compare(contract, spec).breaking
