"""A MkDocs hook: the command-line page shows every ``mlattn`` command's help, as the installed tool prints it.

The line ``[[mlattn help]]`` of ``cli.md`` is replaced, at build time, by one section per command (its
``--help`` text), read from the parser ``mlattn`` itself builds, so that the page
cannot drift from the tool.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

PLACEHOLDER = "[[mlattn help]]"
_SRC = Path(__file__).resolve().parents[2] / "src"


def command_help() -> list[tuple[str, str]]:
    """``(" name", help text)`` of ``mlattn`` itself (name ``""``), then of every command in the order
    ``mlattn --help`` lists them."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width; the page gets a fixed one
    if str(_SRC) not in sys.path:
        sys.path.insert(0, str(_SRC))
    from ml_attention_mechanisms.cli.main import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    top = [("", parser.format_help().rstrip())]
    return top + [(f" {name}", p.format_help().rstrip()) for name, p in sub.choices.items()]


def render() -> str:
    parts = []
    for name, text in command_help():
        parts.append(f"## `mlattn{name}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, render())
