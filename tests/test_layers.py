"""The package's layers: every ganopt import (top-level or inside a function) points to the module's
own layer or one below it, and no modules import each other in a cycle.

Layers, lowest first (a module's layer is that of its longest listed prefix):
infrastructure (config, io, tracking, jobs, ...) < libraries (optim, data, metrics, stats) <
the GAN stage < the stages built on it (toy, natgrad: natgrad's finite GAN uses the GAN stage's
nets) < report < cli. Within a layer any direction is allowed, as long as there is no cycle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS: list[tuple[str, ...]] = [
    ("ganopt", "ganopt.errors", "ganopt.config", "ganopt.io", "ganopt.timing", "ganopt.runtime",
     "ganopt.provenance", "ganopt.tracking", "ganopt.mlflow_sync", "ganopt.jobs", "ganopt.lifeline",
     "ganopt.relocate"),
    ("ganopt.optim", "ganopt.data", "ganopt.dataconfig", "ganopt.metrics", "ganopt.stats"),
    ("ganopt.gan",),
    ("ganopt.toy", "ganopt.natgrad"),
    ("ganopt.report",),
    ("ganopt.cli",),
]


def module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(SRC).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((SRC / "ganopt").rglob("*.py"))}


def layer(module: str) -> int:
    """Index in LAYERS of the longest prefix listed there that `module` is or lies under."""
    best = max((prefix for names in LAYERS for prefix in names if module == prefix or module.startswith(prefix + ".")),
               key=len, default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return next(i for i, names in enumerate(LAYERS) if best in names)


def imports(module: str) -> set[str]:
    """The ganopt modules `module` imports anywhere in its file (`from a import b` counts as a.b
    when a.b is a module); imports only for type checkers (under `if TYPE_CHECKING:`) count too."""
    path, found = MODULES[module], set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {name for name in found if name.split(".")[0] == "ganopt" and name != module}


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_has_a_layer_and_its_imports_exist():
    for module, targets in GRAPH.items():
        layer(module)
        assert targets <= set(MODULES), f"{module} imports unknown modules {sorted(targets - set(MODULES))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_or_sideways(module):
    upward = sorted(target for target in GRAPH[module] if layer(target) > layer(module))
    assert not upward, f"{module} (layer {LAYERS[layer(module)][0]}) imports from higher layers: {upward}"


def test_no_import_cycle():
    state: dict[str, str] = {}  # "open" while on the depth-first path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                chain = path + [module]
                pytest.fail(f"import cycle: {' -> '.join(chain[chain.index(target):] + [target])}")
            if target not in state:
                visit(target, path + [module])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])


def test_the_checks_catch_what_they_look_for(tmp_path, monkeypatch):
    """An upward import and a cycle in a scratch package are found (the tests above can fail)."""
    pkg = tmp_path / "ganopt"
    (pkg / "gan").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "io.py").write_text("def f():\n    from ganopt.gan import train\n")
    (pkg / "gan" / "__init__.py").write_text("")
    (pkg / "gan" / "train.py").write_text("from . import tune\n")
    (pkg / "gan" / "tune.py").write_text("from ganopt.gan.train import x\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    modules = {module_name(p): p for p in sorted(pkg.rglob("*.py"))}
    monkeypatch.setattr(sys.modules[__name__], "MODULES", modules)
    graph = {m: imports(m) for m in modules}
    assert graph["ganopt.io"] == {"ganopt.gan.train"} and layer("ganopt.io") < layer("ganopt.gan.train")
    assert graph["ganopt.gan.train"] == {"ganopt.gan.tune"} and graph["ganopt.gan.tune"] == {"ganopt.gan.train"}
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", graph)
    with pytest.raises(pytest.fail.Exception, match="ganopt.gan.train -> ganopt.gan.tune -> ganopt.gan.train"):
        test_no_import_cycle()
