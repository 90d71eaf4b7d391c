"""No command writes over one of its own inputs: an output path that names an input file is refused."""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["refuse_output_over_input", "same_file"]


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """``a`` and ``b`` name the same existing file (links and relative paths resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_output_over_input(
    flag: str, output: str | os.PathLike[str] | None, inputs: Iterable[tuple[str, str | os.PathLike[str]]]
) -> None:
    """Refuse an output that would overwrite an input.

    Args:
        flag: the output's option, e.g. ``"--out"``.
        output: the file the command would write (``None``: nothing to check).
        inputs: ``(option, path)`` of every file the command reads.

    Raises:
        ValueError: ``output`` is one of ``inputs`` (one line naming both).
    """
    if output is None:
        return
    for option, path in inputs:
        if same_file(output, path):
            raise ValueError(
                f"{flag} {output}: is the same file as the input {option} {path}; writing there would destroy "
                "it: choose another output file"
            )
