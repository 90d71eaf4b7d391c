"""Optional dependencies: which extra installs which package, and the error that says what to install.

The core install (``pip install ml-attention-mechanisms``) is torch and numpy: the attention, encoding,
transformer and model layers need nothing more. Every other package comes with an extra (``pyproject.toml``,
``[project.optional-dependencies]``) and is imported where it is used, inside :func:`needs_extra`::

    with needs_extra("data"):
        import pandas as pd

Without pandas that import raises :class:`MissingExtraError`, an ``ImportError`` whose message ends with
``pip install "ml-attention-mechanisms[data]"``. ``mlattn`` checks the extras a command needs before it
starts (:func:`require_extras`) and prints the message as one line.

Capability checks (:func:`has_module`) live here too. This module is at the bottom of the layers (any
module may import it) and imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "EXTRAS",
    "PROJECT",
    "Extra",
    "MissingExtraError",
    "distribution",
    "extra_of",
    "has_module",
    "install_command",
    "needs_extra",
    "require_extras",
]

PROJECT = "ml-attention-mechanisms"


@dataclass(frozen=True)
class Extra:
    """One extra: the import names of the packages it installs, and what they are for."""

    modules: tuple[str, ...]
    use: str


# pyproject.toml lists the same packages by distribution name; tests/test_import_guard.py checks that the two
# lists agree. (A `bench` extra with the benchmarks' peer libraries will join them; the library does not
# import those.)
EXTRAS: dict[str, Extra] = {
    "data": Extra(("pandas", "pyarrow", "tqdm"), "market data files, features, windows"),
    "train": Extra(("lightning", "yaml", "optuna"), "training and tuning"),
    "eval": Extra(("scipy", "sklearn", "arch", "threadpoolctl"), "baselines, statistical tests, backtests"),
    "export": Extra(("onnx", "onnxscript", "onnxruntime"), "ONNX export"),
    "viz": Extra(("matplotlib", "plotly"), "figures and reports"),
}

_DISTRIBUTIONS = {"yaml": "pyyaml", "sklearn": "scikit-learn"}  # where pip's name is not the import name


class MissingExtraError(ModuleNotFoundError):
    """An optional package is not installed; the message names the extra(s) that install it.

    Attributes:
        extras: the extras to install.
        missing: the import names of the packages that are not installed (``name`` is the first).
    """

    def __init__(self, message: str, *, extras: tuple[str, ...], missing: tuple[str, ...]) -> None:
        super().__init__(message, name=missing[0] if missing else None)
        self.extras = extras
        self.missing = missing


def has_module(name: str) -> bool:
    """True if the module ``name`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # in sys.modules without a __spec__: present
        return True


def distribution(module: str) -> str:
    """The pip name of the package imported as ``module`` (``"sklearn"`` -> ``"scikit-learn"``)."""
    return _DISTRIBUTIONS.get(module, module)


def extra_of(module: str) -> str | None:
    """The extra that installs the top-level package of ``module`` (None: core or not ours)."""
    top = module.partition(".")[0]
    return next((name for name, extra in EXTRAS.items() if top in extra.modules), None)


def install_command(*extras: str) -> str:
    """``pip install "ml-attention-mechanisms[a,b]"``."""
    return f'pip install "{PROJECT}[{",".join(extras)}]"'


def _check(extra: str) -> Extra:
    if extra not in EXTRAS:
        raise ValueError(f"extra {extra!r}: not an extra of {PROJECT}; expected one of {', '.join(EXTRAS)}")
    return EXTRAS[extra]


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Imports of packages that ``extra`` installs: one that is not installed raises
    :class:`MissingExtraError` naming the extra.

    Only a package of ``extra`` that cannot be found at all is reported so; any other import error (a module
    missing inside an installed package, a broken installation) propagates as it is.

    Raises:
        MissingExtraError: a package of ``extra`` imported in the block is not installed.
        ValueError: ``extra`` is not an extra.

    Examples:
        >>> with needs_extra("data"):
        ...     import pandas as pd
    """
    spec = _check(extra)
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if isinstance(exc, MissingExtraError) or top not in spec.modules or has_module(top):
            raise
        raise MissingExtraError(
            f"{distribution(top)} is not installed; it comes with the {extra!r} extra ({spec.use}): "
            f"{install_command(extra)}",
            extras=(extra,),
            missing=(top,),
        ) from None


def require_extras(*extras: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless every package of ``extras`` is installed (nothing is imported).

    Args:
        extras: extra names, e.g. ``("data", "train")``.
        purpose: what needs them, the start of the message (``"this command"``).

    Raises:
        MissingExtraError: naming the extras with a package missing, the missing packages, and one
            ``pip install`` command for all of them.
        ValueError: an unknown extra name.
    """
    missing = [module for extra in extras for module in _check(extra).modules if not has_module(module)]
    if not missing:
        return
    lacking = tuple(extra for extra in extras if set(EXTRAS[extra].modules) & set(missing))
    names = ", ".join(distribution(m) for m in missing)
    which = f"the {', '.join(map(repr, lacking))} extra{'s' if len(lacking) > 1 else ''}"
    raise MissingExtraError(
        f"{purpose} needs {which} ({names}: not installed): {install_command(*lacking)}",
        extras=lacking,
        missing=tuple(missing),
    )
