"""The argument blocks several ``mlattn`` commands share, each defined once.

- Global flags (every command, before or after the command name): ``--debug`` (the traceback of an error)
  and ``--no-progress`` (no progress bars or stage lines).
- A run and the data to use it on (``evaluate``, ``predict``, ``backtest``): ``--run``, ``--data``,
  ``--start``, ``--end``, ``--missing-hours``, ``--timezone``.
- How a file is read (those, ``data-check`` and ``train``): ``--missing-hours`` (hours without trades) and
  ``--timezone`` (the zone of times written without one).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

__all__ = [
    "add_global_flags", "add_missing_hours", "add_run_arguments", "flag_names", "positive_int", "reading_options",
]  # fmt: skip


def add_global_flags(parser: argparse.ArgumentParser, *, with_defaults: bool) -> None:
    """``--debug`` and ``--no-progress`` on ``parser``.

    The top-level parser sets the defaults (``with_defaults=True``); each command's parser takes the same
    flags without defaults, so that ``mlattn --debug train ...`` and ``mlattn train ... --debug`` both work
    and neither position overrides the other.
    """
    extra: dict[str, Any] = {} if with_defaults else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("--debug", action="store_true", help="show the traceback of an error", **extra)
    group.add_argument(
        "--no-progress", action="store_true", help="no progress bars or stage lines (demo, evaluate)", **extra
    )


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    start_help: str,
    required: bool = True,
    run_group: argparse._MutuallyExclusiveGroup | None = None,
) -> None:
    """``--run DIR``, ``--data FILE...``, ``--start``, ``--end``, ``--missing-hours``, ``--timezone``: a
    finished ``mlattn demo`` run and the OHLCV files to use its models on.

    Args:
        parser: the command's parser.
        start_help: what ``--start`` means for this command.
        required: ``--run`` and ``--data`` are required (``backtest`` takes ``--signals`` instead).
        run_group: a mutually exclusive group that ``--run`` joins (``backtest``: ``--run`` or ``--signals``).
    """
    with_run = "" if required else "; with --run"
    (run_group or parser).add_argument(
        "--run",
        required=required,
        metavar="DIR",
        help="run directory of `mlattn demo` (its checkpoints/, calibration.json, demo_config.json)",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        required=required,
        default=None,
        metavar="FILE",
        help=f"OHLCV files (CSV/Parquet), one asset each, in the run's bar interval{with_run}",
    )
    parser.add_argument("--start", default=None, help=f"{start_help} (ISO UTC{with_run})")
    parser.add_argument("--end", default=None, help=f"last bar used (ISO UTC{with_run})")
    add_missing_hours(parser, default="auto" if required else None)


def add_missing_hours(parser: argparse.ArgumentParser, *, default: str | None = "auto") -> None:
    """``--missing-hours {auto,no-trades,absent}`` and ``--timezone ZONE``: ``load_ohlcv``'s
    ``missing_hours`` (``default=None`` where the option is optional, so that a command can tell it was
    given: ``None`` means ``"auto"``) and ``timezone`` (``None``: UTC)."""
    from ..data.loader import MISSING_HOURS

    parser.add_argument(
        "--missing-hours",
        choices=MISSING_HOURS,
        default=default,
        help="hours without trades in a file (holes and zero-volume flat candles, in runs under a day): "
        "no-trades = a market that did not trade (holes written flat at the previous close, all kept), "
        "absent = downtime (holes left out, zero-volume candles masked); auto (default): no-trades for "
        "Kraken OHLCVT and Coinbase candle files and where such hours are 3%% of the file's or more, absent "
        "otherwise",
    )
    parser.add_argument(
        "--timezone",
        type=_timezone,
        default=None,
        metavar="ZONE",
        help="the zone of the files' times written without one, e.g. Asia/Shanghai or UTC+8 (default UTC); "
        "unix times and times with an offset are exact and keep their time",
    )


def reading_options(args: argparse.Namespace) -> dict[str, str]:
    """The file-reading options given on the command line (``missing_hours``, ``timezone``), by keyword."""
    return {k: getattr(args, k) for k in ("missing_hours", "timezone") if getattr(args, k, None) is not None}


def flag_names(keys: Iterable[str]) -> str:
    """``["missing_hours", "timezone"]`` -> ``"--missing-hours, --timezone"`` (for one-line errors)."""
    return ", ".join(f"--{k.replace('_', '-')}" for k in keys)


def _timezone(text: str) -> str:
    """argparse type: a zone ``load_ohlcv`` takes (an IANA name or a UTC offset)."""
    from ..data._timestamps import parse_timezone

    try:
        parse_timezone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: " + str(exc).split(": ", 1)[1]) from None
    return text


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value
