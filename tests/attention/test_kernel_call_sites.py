"""Only the dispatch calls an attention kernel (STYLE rule 13): a grep over the package source.

The dispatch is ``attention/_dispatch.py`` (the decision and the one entry point, ``attend``) with its private
``attention/_kernels.py`` (the backends), which nothing else in the package imports.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import ml_attention_mechanisms

PACKAGE = Path(ml_attention_mechanisms.__file__).parent
DISPATCH = PACKAGE / "attention" / "_dispatch.py"
KERNELS = PACKAGE / "attention" / "_kernels.py"
REFERENCE = PACKAGE / "attention" / "reference.py"  # the plain float64 definition, by design
# q @ k^T followed by a softmax in the same file: hand-written softmax attention.
SCORES = re.compile(r"(matmul\(|@)[^\n]*transpose\(\s*-\s*(2\s*,\s*-\s*1|1\s*,\s*-\s*2)\s*\)")


def _code(path: Path) -> str:
    """The file's code without comments and strings (docstrings may mention kernels)."""
    out: list[str] = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING) or tok.type == getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            continue
        out.append("\n" if tok.type in (tokenize.NEWLINE, tokenize.NL) else tok.string + " ")
    return "".join(out).replace(" (", "(").replace("( ", "(").replace(" )", ")").replace(" ,", ",")


def test_no_kernel_call_outside_dispatch() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in (DISPATCH, KERNELS):
            continue
        code = _code(path)
        if "scaled_dot_product_attention" in code:
            offenders.append(f"{path.relative_to(PACKAGE)}: calls scaled_dot_product_attention")
        if path != REFERENCE and "softmax" in code and SCORES.search(code):
            offenders.append(f"{path.relative_to(PACKAGE)}: computes softmax attention by hand")
    assert not offenders, "attention kernels must go through attention/_dispatch.attend:\n" + "\n".join(
        offenders
    )


def test_only_the_dispatch_imports_the_kernels() -> None:
    importers = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != DISPATCH and re.search(r"\b_kernels\b", _code(path))
    ]
    assert importers == [], importers


def test_the_grep_sees_the_dispatch_itself() -> None:
    code = _code(KERNELS)
    assert "scaled_dot_product_attention" in code and "softmax" in code and SCORES.search(code)
