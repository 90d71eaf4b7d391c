"""A griffe extension for the API pages: the docstrings' Sphinx roles read as inline code.

The package's docstrings follow the Google style and name other objects with Sphinx roles
(``:func:`attend```, ``:class:`~ml_attention_mechanisms.encodings.MarketTimeEncoding```), which Markdown
would print as they are. This extension rewrites each role to inline code holding the name a reader
looks for (``~`` keeps the last component, a leading ``.`` is dropped), before mkdocstrings renders it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)\.?([^`]+)`")


def plain_roles(text: str) -> str:
    """``:func:`x``` -> ```x```; ``:class:`~a.b.C``` -> ```C```."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"

    return _ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring griffe loads (a module's once it is visited)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        _rewrite(obj)

    def on_module(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        _rewrite(mod)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = plain_roles(obj.docstring.value)
