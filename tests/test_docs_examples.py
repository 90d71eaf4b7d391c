"""Every Python example users read runs as written: the README's, the documentation pages' and the
docstrings' (the API pages show them).

A page's ``python`` blocks run in order in one namespace (later blocks use names that earlier ones defined,
as a reader pasting them into one interpreter would), with the package's public names, ``torch`` and
``torch.nn`` in scope, in a temporary folder so that the files they write land there. Blocks that are not
meant to run are fenced as ``text`` or ``bash``. The examples page keeps every example of the library's
original specification verbatim, and their printed output is checked.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
EXAMPLES_PAGE = DOCS / "examples.md"
SPEC = ROOT.parent / "shared" / "spec" / "SEED_README.md"  # beside the repository in CI
PAGES = [README, *sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)]
PACKAGE = ROOT / "src" / "ml_attention_mechanisms"

# A print statement of an example of the examples page -> lines (regexes) that example's output must contain.
EXPECTED: dict[str, list[str]] = {
    'print(f"Output shape: {output.shape}")': [r"Output shape: torch\.Size\(\[4, 128, 512\]\)"],
    'print("Predictions:")': [
        r"Predictions:",
        r"  predictions: torch\.Size\(\[4, 5, 2\]\)",
        r"  quantiles: torch\.Size\(\[4, 5, 2, \d+\]\)",
        r"  lower: torch\.Size\(\[4, 5, 2\]\)",
        r"  upper: torch\.Size\(\[4, 5, 2\]\)",
        r"  var: torch\.Size\(\[4, 5\]\)",
        r"  es: torch\.Size\(\[4, 5\]\)",
    ],
    'print(f"Market regime:': [
        r"Predictions: torch\.Size\(\[4, 1\]\)",
        r"Risk score: torch\.Size\(\[4, 1\]\)",
        r"Market regime: torch\.Size\(\[4, \d+\]\)",
    ],
    'print(f"Regime features:': [r"Regime features: torch\.Size\(\[4, 1440, 256\]\)"],
    'print(f"Cross-asset features:': [r"Cross-asset features: torch\.Size\(\[4, 256, 512\]\)"],
    'print(f"Sharpe ratio improvement:': [
        r"Optimal weights: torch\.Size\(\[4, 20\]\)",
        r"Expected returns: torch\.Size\(\[4, 20\]\)",
        r"Sharpe ratio improvement: -?\d+\.\d{4}",
    ],
    'print(f"  Forward time:': [
        r"standard:",
        r"flash:",
        r"crypto:",
        r"  Forward time: \d+\.\d\d ± \d+\.\d\d ms",
    ],
    'print(f"Custom attention output:': [r"Custom attention output: torch\.Size\(\[2, 16, 64\]\)"],
    'print(f"Modules checked:': [r"Modules checked: [1-9]\d*", r"Issues found: 0"],
    'print(f"Optimized shape:': [
        r"Original shape: torch\.Size\(\[8, 2048, 512\]\)",
        r"Optimized shape: torch\.Size\(\[8, \d+, 512\]\)",
    ],
}


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```` ```python ```` fences of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_examples_page_keeps_every_spec_example() -> None:
    blocks = [b.strip() for b in python_blocks(EXAMPLES_PAGE.read_text())]
    if SPEC.exists():  # the specification lies beside the repository, not in it
        for example in python_blocks(SPEC.read_text()):
            assert example.strip() in blocks, f"example missing from docs/examples.md:\n{example[:200]}"
    for snippet in EXPECTED:
        assert any(snippet in b for b in blocks), snippet


def test_the_readme_links_the_examples_page() -> None:
    assert "docs/examples.md" in README.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=_page_id)
def test_every_example_of_a_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_attention_mechanisms as mam

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__", "torch": torch, "nn": torch.nn}
    namespace.update({name: getattr(mam, name) for name in mam.__all__})
    for i, block in enumerate(python_blocks(page.read_text())):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block, f"{_page_id(page)}[python block {i}]", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"{_page_id(page)}: python block {i} failed: {exc!r}\n{block}") from exc
        printed = out.getvalue()
        for snippet, patterns in EXPECTED.items():
            if snippet in block:
                for pattern in patterns:
                    assert re.search(pattern, printed, flags=re.M), (
                        f"block {i}: expected output matching {pattern!r}, got:\n{printed}"
                    )


def test_every_public_name_has_an_example() -> None:
    import ml_attention_mechanisms as mam

    code = "\n".join(b for p in PAGES for b in python_blocks(p.read_text()))
    missing = [n for n in mam.__all__ if not re.search(rf"\b{re.escape(n)}\b", code)]
    assert not missing, f"public names without a runnable example in the README or docs/: {missing}"


def _modules_with_doctests() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if re.search(r"^\s*>>> ", path.read_text(encoding="utf-8"), flags=re.M):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_docstring_examples_are_found() -> None:
    assert len(_modules_with_doctests()) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("module", _modules_with_doctests())
def test_docstring_examples_run(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=False,
    )
    assert result.attempted > 0, f"{module}: no docstring example found"
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} docstring examples failed"
