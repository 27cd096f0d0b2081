"""The house rules: which folder may import which (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A resource split over files shares its own module; everything else shared is
# in namespaces.shared.
SPLIT_RESOURCES = {
    "namespaces.product_images": {"namespaces.products"},
    "namespaces.products_bulk": {"namespaces.products"},
    "namespaces.product_imports": {"namespaces.products"},
    "namespaces.order_exports": {"namespaces.orders"},
}


def _modules(folder: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        yield name, path


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(names: set[str], package: str) -> set[str]:
    return {name for name in names if name == package or name.startswith(f"{package}.")}


@pytest.mark.parametrize(("module", "path"), list(_modules("models")), ids=str)
def test_models_import_neither_api_nor_namespaces(module, path):
    imported = _imports(path)
    assert not _within(imported, "api") | _within(imported, "namespaces"), module


@pytest.mark.parametrize(("module", "path"), list(_modules("api")), ids=str)
def test_api_never_imports_tools_and_only_the_factory_imports_namespaces(module, path):
    imported = _imports(path)
    assert not _within(imported, "tools"), module
    if module != "api":
        assert not _within(imported, "namespaces"), module


@pytest.mark.parametrize(("module", "path"), list(_modules("namespaces")), ids=str)
def test_a_namespace_imports_no_other_resource_and_holds_no_sql(module, path):
    imported = _imports(path)
    assert not _within(imported, "sqlalchemy"), module
    if module == "namespaces":
        return  # the package lists every namespace for the factory
    allowed = {"namespaces.shared", *SPLIT_RESOURCES.get(module, ())}
    others = {
        name.rsplit(".", 1)[0] if name.count(".") > 1 else name
        for name in _within(imported, "namespaces")
    }
    assert others <= allowed, f"{module} imports {sorted(others - allowed)}"
