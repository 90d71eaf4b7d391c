"""Every import of the package points down the layers of ARCHITECTURE.md, and no import goes in a circle.

Each module of ``src/ml_attention_mechanisms`` is parsed with ``ast``; every import counts: top-level,
inside functions and methods, under ``if TYPE_CHECKING:``, relative and absolute. The rules:

Layers, top to bottom (a module may import its own layer and any layer below it)::

    cli
    recipes
    evaluation | training | inference       one band
    models
    transformers
    utils
    attention
    encodings
    data
    config.py, _version.py, _import_guard.py   the bottom: any module may import them

Within the band ``evaluation | training | inference``, one direction is allowed: ``inference`` imports
``training`` (a checkpoint is read by ``training.checkpoint``); no other import crosses the band.
``evaluation`` is a numpy/pandas library: besides itself it imports only ``data`` and the bottom (not the
models, training or inference), and it does not import torch or Lightning.
``data`` imports nothing of the package but the bottom. ``cli`` reads the application only through
``ml_attention_mechanisms.recipes`` (its public names). The package's ``__init__.py`` exports names
lazily (strings resolved on first use) and imports only ``_version.py``; no module imports it back.

No cycle: no two modules import each other, directly or through others (a package's ``__init__`` counts as
a module; importing ``pkg.mod`` is an edge to ``pkg.mod``, not to ``pkg``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "ml_attention_mechanisms"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

BOTTOM = ("config", "_version", "_import_guard")
LAYERS = (  # top to bottom; a tuple is one band
    ("cli",),
    ("recipes",),
    ("evaluation", "training", "inference"),
    ("models",),
    ("transformers",),
    ("utils",),
    ("attention",),
    ("encodings",),
    ("data",),
    BOTTOM,
)
RANK = {layer: len(LAYERS) - i for i, band in enumerate(LAYERS) for layer in band}
SAME_BAND_ALLOWED = {("inference", "training")}
ONLY = {  # layers whose imports of the package are limited to these (besides themselves)
    "evaluation": {"data", *BOTTOM},
    "data": set(BOTTOM),
}
FORBIDDEN_THIRD_PARTY = {"evaluation": {"torch", "lightning", "pytorch_lightning"}}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module of the package, dotted
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """``(dotted name, line, is_package_import)`` of every import in the module, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, alias.name.split(".")[0] == PACKAGE
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            if target.split(".")[0] != PACKAGE:
                yield target, node.lineno, False
                continue
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno, True


def _package_imports() -> list[Import]:
    found = {
        Import(module, target, line)
        for module, path in MODULES.items()
        for target, line, ours in _imports(module, path)
        if ours and target != module
    }
    return sorted(found, key=lambda i: (i.source, i.line, i.target))


IMPORTS = _package_imports()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<package>"


def _violation(imp: Import) -> str | None:
    src, dst = _layer(imp.source), _layer(imp.target)
    if dst == "<package>":
        return "imports the package's __init__ (the top: it exports every layer)"
    if src == "<package>":
        return None if dst == "_version" else "the package's __init__ imports only _version (lazy exports)"
    if src == dst:
        return None
    if src in ONLY and dst not in ONLY[src]:
        return f"{src} imports only {sorted(ONLY[src])}"
    if src == "cli" and dst == "recipes" and imp.target != f"{PACKAGE}.recipes":
        return "cli reads the application through ml_attention_mechanisms.recipes (its public names)"
    if RANK[src] > RANK[dst]:
        return None
    if RANK[src] == RANK[dst] and (src, dst) in SAME_BAND_ALLOWED:
        return None
    return f"{src} imports {dst}: a layer {'above' if RANK[dst] > RANK[src] else 'beside'} it"


def test_every_module_belongs_to_a_layer() -> None:
    layers = {_layer(m) for m in MODULES} - {"<package>"}
    assert layers == set(RANK), sorted(layers ^ set(RANK))


def test_the_scan_sees_function_level_and_relative_imports() -> None:
    """The scan has teeth: an import inside a function and ``from . import x`` are both found."""
    inside = [
        i for i in IMPORTS if i.source == f"{PACKAGE}.recipes._models" and i.target == f"{PACKAGE}.models"
    ]
    assert inside, "recipes._models imports the models package inside model_kind()"
    targets = {i.target for i in IMPORTS if i.source == f"{PACKAGE}.training.run"}
    assert {f"{PACKAGE}.training._build", f"{PACKAGE}.training._record"} <= targets  # from . import ...


def test_imports_point_down_the_layers() -> None:
    bad = [f"{imp}: {why}" for imp in IMPORTS if (why := _violation(imp)) is not None]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_THIRD_PARTY))
def test_forbidden_third_party_imports(layer: str) -> None:
    bad = [
        f"{module}:{line} imports {name}"
        for module, path in MODULES.items()
        if _layer(module) == layer
        for name, line, ours in _imports(module, path)
        if not ours and name.split(".")[0] in FORBIDDEN_THIRD_PARTY[layer]
    ]
    assert not bad, "\n".join(bad)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        edges[imp.source].add(imp.target)
    cycles = _cycles(edges)
    described = [
        " <-> ".join(c) + ": " + "; ".join(str(i) for i in IMPORTS if i.source in c and i.target in c)
        for c in cycles
    ]
    assert not cycles, "\n".join(described)


def test_the_cycle_check_has_teeth() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_layer_rules_have_teeth() -> None:
    up = Import(f"{PACKAGE}.models._base", f"{PACKAGE}.inference._scriptable", 1)
    assert _violation(up) is not None
    assert _violation(Import(f"{PACKAGE}.evaluation.suite", f"{PACKAGE}.models", 1)) is not None
    assert _violation(Import(f"{PACKAGE}.training.run", f"{PACKAGE}.inference", 1)) is not None
    assert _violation(Import(f"{PACKAGE}.inference._inputs", f"{PACKAGE}.training.checkpoint", 1)) is None
    assert _violation(Import(f"{PACKAGE}.cli.backtest", f"{PACKAGE}.recipes._backtest_table", 1)) is not None
    assert _violation(Import(f"{PACKAGE}.data.loader", f"{PACKAGE}.encodings", 1)) is not None
    assert _violation(Import(f"{PACKAGE}.utils._memory", f"{PACKAGE}.attention._chunking", 1)) is None
