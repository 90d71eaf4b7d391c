"""Every Python example of the README runs as written, in order, and prints the shapes it promises.

The README keeps all of the spec's examples verbatim. They run in one namespace (later examples use names
that earlier ones defined, as a reader pasting them into one session would), with the package's public
names, ``torch`` and ``torch.nn`` in scope, in a temporary folder so that the files they write land there.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"

# A print statement of a spec example -> lines (regexes) that example's output must contain.
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


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_keeps_every_spec_example() -> None:
    spec = Path(__file__).resolve().parents[2] / "shared" / "spec" / "SEED_README.md"
    blocks = [b.strip() for b in _python_blocks(README.read_text())]
    if spec.exists():  # beside the repository in CI; the check below is the one that matters there
        for example in _python_blocks(spec.read_text()):
            assert example.strip() in blocks, f"spec example missing from README:\n{example[:200]}"
    for snippet in EXPECTED:
        assert any(snippet in b for b in blocks), snippet


@pytest.mark.slow
def test_every_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_attention_mechanisms as mam

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__", "torch": torch, "nn": torch.nn}
    namespace.update({name: getattr(mam, name) for name in mam.__all__})
    for i, block in enumerate(_python_blocks(README.read_text())):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block, f"README.md[python block {i}]", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"README python block {i} failed: {exc!r}\n{block}") from exc
        printed = out.getvalue()
        for snippet, patterns in EXPECTED.items():
            if snippet in block:
                for pattern in patterns:
                    assert re.search(pattern, printed, flags=re.M), (
                        f"block {i}: expected output matching {pattern!r}, got:\n{printed}"
                    )


def test_every_public_name_has_a_readme_example() -> None:
    import ml_attention_mechanisms as mam

    code = "\n".join(_python_blocks(README.read_text()))
    missing = [n for n in mam.__all__ if not re.search(rf"\b{re.escape(n)}\b", code)]
    assert not missing, f"public names without a runnable README example: {missing}"
