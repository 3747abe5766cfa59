"""The layering the project promises (README "Layout"), checked on the source: the RTL
never imports the golden model (both take the spec's numbers from ``common/``), and no
module imports another module's private (underscore) names."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["common", "hw", "model", "tb"]


def _package(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def _imports(path: pathlib.Path, package: str | None = None):
    """(module, names) of every import statement in ``path`` (a module of ``package``,
    default: where it lies under the project), relative imports resolved."""
    package = _package(path) if package is None else package
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module, [a.name for a in node.names]


def _sources(*packages: str):
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("hw", "common"), ids=lambda p: str(p.relative_to(ROOT)))
def test_rtl_and_shared_definitions_never_import_the_model(path: pathlib.Path) -> None:
    bad = [mod for mod, _ in _imports(path) if mod == "model" or mod.startswith("model.")]
    assert not bad, f"{path.relative_to(ROOT)} imports the golden model: {bad}"


@pytest.mark.parametrize("path", _sources(*PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_private_names_of_another(path: pathlib.Path) -> None:
    own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    bad = [(mod, n) for mod, names in _imports(path) for n in names
           if n.startswith("_") and not n.startswith("__") and mod != own]
    assert not bad, f"{path.relative_to(ROOT)} imports private names: {bad}"


def test_the_checks_see_a_violation(tmp_path: pathlib.Path) -> None:
    # the import reader resolves what the two checks above rely on
    f = ROOT / "hw" / "esp.py"
    mods = dict(_imports(f))
    assert "hw.datapath" in mods and "receive_ingress" in mods["hw.datapath"]
    fake = tmp_path / "x.py"
    fake.write_text("from model.errors import Code\nfrom .endpoint import _trim\n")
    found = list(_imports(fake, package="hw"))
    assert ("model.errors", ["Code"]) in found and ("hw.endpoint", ["_trim"]) in found
