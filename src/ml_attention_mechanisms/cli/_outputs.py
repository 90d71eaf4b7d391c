"""No command writes over one of its own inputs: an output path that names an input file is refused."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._base import CLIError

__all__ = ["refuse_output_over_input", "same_file"]


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """``a`` and ``b`` name the same file (links and relative paths resolved; ``False`` if either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve() and Path(a).exists()


def refuse_output_over_input(
    flag: str, output: str | os.PathLike[str] | None, inputs: Iterable[tuple[str, str | os.PathLike[str]]]
) -> None:
    """Refuse an output that would overwrite an input.

    Args:
        flag: the output's option, e.g. ``"--output"``.
        output: the file the command would write (``None``: nothing to check).
        inputs: ``(option, path)`` of every file the command reads.

    Raises:
        CLIError: ``output`` is one of ``inputs`` (both options and the file named; exit 2).
    """
    if output is None:
        return
    for option, path in inputs:
        if same_file(output, path):
            raise CLIError(
                f"{flag} {output}: is the {option} input file; writing there would destroy it: choose "
                "another output file"
            )
