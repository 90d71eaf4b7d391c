"""The application package: its public names, recipes made of small functions, and a light package import."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

import ml_attention_mechanisms.recipes as recipes

RECIPES = Path(recipes.__file__).resolve().parent
MAX_FUNCTION_LINES = 80


def _functions() -> list[tuple[str, str, int]]:
    """``(file, qualified name, lines)`` of every function and method of the package (decorators excluded,
    docstring included)."""
    out = []
    for path in sorted(RECIPES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, prefix: str, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{prefix}{child.name}"
                    out.append((path.name, name, child.end_lineno - child.lineno + 1))  # type: ignore[operator]
                    visit(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

        visit(tree, "")
    return out


def test_no_function_over_80_lines() -> None:
    functions = _functions()
    assert len(functions) > 50  # the scan found the package's functions
    long = [f"{file}: {name} has {n} lines" for file, name, n in functions if n > MAX_FUNCTION_LINES]
    assert not long, "\n".join(long)


def test_files_stay_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in RECIPES.glob("*.py")}
    assert max(sizes.values()) <= 600, sizes  # STYLE.md: aim for 300 lines, never more than 600


@pytest.mark.parametrize(
    "name",
    ["DemoConfig", "run_demo", "evaluate_run", "predict_run", "prediction_table", "RunOutputs",
     "load_run_models", "DEMO_MODELS", "backtest_run", "backtest_signals", "backtest_table", "read_table"],
)  # fmt: skip
def test_public_names(name: str) -> None:
    assert name in recipes.__all__ and getattr(recipes, name) is not None


def test_package_root_exports_the_recipes() -> None:
    import ml_attention_mechanisms as mam

    for name in ("DemoConfig", "run_demo", "evaluate_run", "predict_run"):
        assert getattr(mam, name) is getattr(recipes, name)


def test_the_root_import_stays_light(modules_loaded_by: Callable[[str, tuple[str, ...]], list[str]]) -> None:
    loaded = modules_loaded_by("import ml_attention_mechanisms", ("ml_attention_mechanisms", "pandas"))
    assert not any(m.startswith(("ml_attention_mechanisms.recipes", "pandas")) for m in loaded), loaded
