"""Numbers as users' exports write them: plain, quoted, scientific, with a thousands separator or a decimal comma.

The decimal mark is decided once per file, from the cells that can only be read one way:

- ``37584.76``, ``1.5e-05``, ``"37,584.76"`` say the mark is ``.``: a comma is then a thousands separator,
  allowed only in groups of three digits (``"37,584.76"`` -> 37584.76).
- ``37584,76``, ``1.234,5`` (a ``;``-separated European export) say the mark is ``,``: a dot is then a
  thousands separator, allowed only in groups of three digits (``1.234,5`` -> 1234.5).
- A file that says both is refused, and so is a cell that fits neither reading (``"1,5"`` in a file whose
  mark is ``.``) or both readings when nothing else in the file decides (``"37,584"``: 37584 or 37.584?):
  the error names the line, the column and the value. A number is never guessed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from .._import_guard import needs_extra

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["empty_rows", "parse_numbers"]

MISSING = {"", "nan", "null", "none", "na", "n/a", "-"}
_DOT_DECIMAL = r"^[+-]?(\d*\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)$"  # 1.5, .5, 1e-5 (not 1.500 alone)
_DOT_THOUSANDS_ONLY = r"^[+-]?\d{1,3}(\.\d{3})+$"  # 1.500 or 1.234.567: either reading
_US_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")  # 37,584.76 or 37,584
_EU_GROUPED = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")  # 37.584,76 or 37.584
_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")  # 37584,76


def empty_rows(columns: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """bool ``[rows]``: rows whose every one of ``names`` is a missing value (empty, ``NaN``, ``NULL``, ...)."""
    with needs_extra("data"):
        import pandas as pd

    out = np.ones(len(columns[names[0]]), dtype=bool)
    for col in names:
        out &= (
            pd.Series(columns[col], dtype=object).astype(str).str.strip().str.lower().isin(MISSING).to_numpy()
        )
    return out


def _decimal_mark(texts: dict[str, pd.Series]) -> tuple[str | None, str]:
    """``(mark, why)``: ``"."`` or ``","``, or ``None`` when the file's cells say both or neither."""
    dot = comma = False
    for text in texts.values():
        has_comma = text.str.contains(",", regex=False)
        plain = text[~has_comma]
        dot |= bool(
            (plain.str.match(_DOT_DECIMAL) & ~plain.str.match(_DOT_THOUSANDS_ONLY)).any()
            | text[has_comma].str.match(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$").any()
        )
        with_comma = text[has_comma]
        comma |= bool(
            with_comma.str.match(r"^[+-]?\d+,(\d{1,2}|\d{4,})([eE][+-]?\d+)?$").any()
            | with_comma.str.match(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$").any()
        )
    if dot and comma:
        return None, "the file writes decimals both with '.' and with ','"
    if comma:
        return ",", ""
    if dot:
        return ".", ""
    return None, "nothing else in the file says whether ',' is a thousands separator or a decimal comma"


def _normalise(text: pd.Series, mark: str | None, why: str) -> tuple[pd.Series, dict[int, str]]:
    """The cells rewritten with a '.' decimal mark and no grouping, and the reasons for cells that cannot be."""
    out = text.copy()
    has_comma = text.str.contains(",", regex=False)
    if mark == ".":
        ok = has_comma & text.str.match(_US_GROUPED)
        out[ok] = text[ok].str.replace(",", "", regex=False)
        bad, expected = (
            has_comma & ~ok,
            "which writes decimals with a dot (expected e.g. 37584.76 or 37,584.76)",
        )
    elif mark == ",":
        candidates = has_comma | text.str.contains(".", regex=False)
        ok = candidates & (text.str.match(_EU_GROUPED) | text.str.match(_COMMA_DECIMAL))
        out[ok] = text[ok].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        bad, expected = (
            candidates & ~ok,
            "which writes decimals with a comma (expected e.g. 37584,76 or 37.584,76)",
        )
    else:
        bad, expected = has_comma, ""
    reasons = {
        int(r): f"{text.iloc[r]!r} is not a number in this file, {expected}"
        if expected
        else f"{text.iloc[r]!r} is ambiguous: {why} (expected e.g. 37584.76)"
        for r in np.flatnonzero(bad.to_numpy())
    }
    return out, reasons


def parse_numbers(
    columns: dict[str, np.ndarray],
    names: tuple[str, ...],
    optional: tuple[str, ...],
    invalid: dict[int, tuple[str, str]],
) -> dict[str, np.ndarray]:
    """float64 arrays for the numeric ``names`` present in ``columns`` (NaN where invalid).

    Invalid cells are recorded in ``invalid`` (row -> (column, reason)), the first reason per row kept;
    a missing value (empty, ``NULL``, ``NaN``, ...) is invalid only in a column not in ``optional``.
    """
    with needs_extra("data"):
        import pandas as pd

    texts = {
        col: pd.Series(columns[col], dtype=object).astype(str).str.strip() for col in names if col in columns
    }
    commas = any(t.str.contains(",", regex=False).any() for t in texts.values())
    mark, why = _decimal_mark(texts) if commas else (".", "")
    out: dict[str, np.ndarray] = {}
    for col, text in texts.items():
        bad: dict[int, str] = {}
        if commas:
            text, bad = _normalise(text, mark, why)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
        for r, reason in bad.items():
            values[r] = np.nan
            invalid.setdefault(r, (col, reason))
        rows = np.flatnonzero(~np.isfinite(values))
        for row in rows.tolist():
            if row in bad:
                continue
            t = text.iloc[row]
            is_missing = t.lower() in MISSING
            if is_missing and col in optional:
                continue
            reason = "missing value (expected a number)" if is_missing else f"{t!r} is not a number"
            invalid.setdefault(row, (col, reason))
        values[rows] = np.nan
        out[col] = values
    return out
