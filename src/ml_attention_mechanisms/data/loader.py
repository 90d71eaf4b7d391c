"""``load_ohlcv``: read a user's OHLCV export as it is, and say plainly what is wrong with it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._import_guard import needs_extra
from ._columns import QUOTES, asset_name, base_currency, known_asset_id, normalise_symbol
from ._formats import NO_TRADE_HOLES, RawTable, read_table
from ._numbers import empty_rows, parse_numbers
from ._timestamps import parse_timezone, resolve_timestamps
from .validation import (
    DataValidationError,
    QualityReport,
    flag_candles,
    index_seconds,
    infer_step,
    validate_ohlcv,
    zero_volume_flat,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PRICE_COLUMNS", "asset_name", "base_currency", "known_asset_id", "load_ohlcv", "normalise_symbol"]

PRICE_COLUMNS = ("open", "high", "low", "close")
_REQUIRED = (*PRICE_COLUMNS, "volume")
_OPTIONAL = ("quote_volume", "trades")
# duplicates that differ by more than this are a conflict, not rounding (the shared files' overlapping
# exports differ by <= 0.13% in a price and <= 0.9% in volume, but for the unfinished candle: 0.4-0.6%, 19-22%)
_CONFLICT_PRICE = 0.005
_CONFLICT_VOLUME = 0.01


# bitcoincharts.com names its (bitcoin-only) markets ``<exchange><currency>``: ``bitstampUSD``, ``krakenEUR``
_BITCOINCHARTS = frozenset({"BITSTAMP", "KRAKEN", "COINBASE", "BITFINEX", "GEMINI", "ITBIT", "BTCE", "CEXIO"})
# words of a file name before a coin that are no coin: exchanges and what a file holds (``okx_BTC_1h.csv``)
_NOT_COINS = _BITCOINCHARTS | frozenset(
    {"BINANCE", "BINANCEUS", "BYBIT", "OKX", "OKEX", "KUCOIN", "HUOBI", "HTX", "GATE", "GATEIO", "MEXC", "BITGET",
     "POLONIEX", "BITTREX", "DERIBIT", "BITMEX", "UPBIT", "BITHUMB", "EXCHANGE", "DATA", "PRICES", "PRICE", "OHLC",
     "OHLCV", "CANDLES", "KLINES", "SPOT", "FUTURES", "PERP", "HISTORY", "HOURLY", "DAILY"}
)  # fmt: skip


def _symbol_from_name(path: Path) -> str | None:
    """The pair a file's name gives, ``None`` when it names none:

    - written together or with a hyphen, as exchanges name it: ``Binance_BTCUSDT_1h.csv`` -> ``BTC/USDT``,
      ``XBTUSD_60.csv`` (Kraken) -> ``XBT/USD``, ``BTC-USD.csv`` (Coinbase) and ``BITSTAMP_BTCUSD, 60.csv``
      (TradingView) -> ``BTC/USD``; bitcoincharts' market names (``bitstampUSD_1-min_data.csv``) -> ``BTC/USD``;
    - else the last base and quote written as two words: a ccxt symbol with its ``/`` replaced
      (``BTC_USD_1h.csv`` -> ``BTC/USD``, ``binance_ETH_BTC_1h.csv`` -> ``ETH/BTC``) or freqtrade's name
      (``BTC_USDT-1h.csv`` -> ``BTC/USDT``); an exchange or a number is no base, and a pair written quote
      first (pyupbit's ``KRW_ETH_minute60.csv``) is turned round (``ETH/KRW``).
    """
    stem = path.name.split(".")[0].upper()
    m = re.search(r"(?:^|[_\-\s,])([A-Z0-9]{2,10}?-?(?:" + "|".join(QUOTES) + r"))(?:$|[_\-\s,])", stem)
    if m:
        base, quote = normalise_symbol(m.group(1)).split("/")
        return f"{'BTC' if base in _BITCOINCHARTS else base}/{quote}"
    words = re.split(r"[_\-\s,]+", stem)
    pairs = [
        (b, q) for b, q in itertools.pairwise(words)
        if q in QUOTES and re.fullmatch(r"[A-Z0-9]{2,10}", b) and not b.isdigit() and b not in _NOT_COINS
    ]  # fmt: skip
    return normalise_symbol(f"{pairs[-1][0]}/{pairs[-1][1]}") if pairs else None


def _row_rules(v: dict[str, np.ndarray], invalid: dict[int, tuple[str, str]]) -> None:
    o, h, lo, c, vol = (v[k] for k in _REQUIRED)
    with np.errstate(invalid="ignore"):
        rules = [
            *((k, v[k] <= 0, "{} is not positive (expected a price > 0)") for k in PRICE_COLUMNS),
            ("high", h < lo, "high {} is below low {} (expected high >= low)"),
            ("open", (o < lo) | (o > h), "open {} is outside [low, high] = [{}, {}]"),
            ("close", (c < lo) | (c > h), "close {} is outside [low, high] = [{}, {}]"),
            ("volume", vol < 0, "{} is negative (expected volume >= 0)"),
        ]
        if "trades" in v:
            rules.append(("trades", v["trades"] < 0, "{} is negative (expected a trade count >= 0)"))
    for col, bad, template in rules:
        for r in np.flatnonzero(bad):
            if col == "high":
                msg = template.format(h[r], lo[r])
            elif col in ("open", "close") and template.count("{}") == 3:
                msg = template.format(v[col][r], lo[r], h[r])
            else:
                msg = template.format(v[col][r])
            invalid.setdefault(int(r), (col, msg))


def _dedupe(seconds: np.ndarray, v: dict[str, np.ndarray], report: QualityReport) -> np.ndarray:
    """Row order (ascending time) keeping one row per timestamp; counts duplicates and conflicts."""
    has_trades = np.isfinite(v["trades"]) if "trades" in v else np.zeros(seconds.size, dtype=bool)
    volume = np.nan_to_num(v["volume"], nan=-1.0)
    # primary key time; then the complete candle first: a trade count, then the larger volume, then file order
    order = np.lexsort((np.arange(seconds.size), -volume, ~has_trades, seconds))
    ts = seconds[order]
    first = np.ones(ts.size, dtype=bool)
    first[1:] = ts[1:] != ts[:-1]
    keeper = order[np.maximum.accumulate(np.where(first, np.arange(ts.size), 0))]
    extra = ~first
    report.duplicates = int(np.count_nonzero(extra))
    if report.duplicates:
        rows, keep = order[extra], keeper[extra]
        with np.errstate(divide="ignore", invalid="ignore"):
            price_diff = np.max([np.abs(v[k][rows] / v[k][keep] - 1) for k in PRICE_COLUMNS], axis=0)
            vol_diff = np.abs(v["volume"][rows] - v["volume"][keep]) / np.maximum(v["volume"][keep], 1e-12)
        conflict = (price_diff > _CONFLICT_PRICE) | (vol_diff > _CONFLICT_VOLUME)
        conflict_ts = np.unique(seconds[rows[conflict]])
        report.conflicts = int(conflict_ts.size)
        with needs_extra("data"):
            import pandas as pd

        report.conflict_times = [
            pd.Timestamp(int(t), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M") for t in conflict_ts[:10]
        ]
    return order[first]


def _off_grid_warning(report: QualityReport, seconds: np.ndarray, lines: np.ndarray, fmt: str) -> None:
    """Name the first row off the grid the other rows share (``align`` refuses such a file)."""
    with needs_extra("data"):
        import pandas as pd

    step = int(infer_step(seconds) or 1)
    r = int(np.flatnonzero(seconds % step != report.grid_offset_seconds)[0])
    when = pd.Timestamp(int(seconds[r]), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
    shift = f"{report.grid_offset_seconds} s past" if report.grid_offset_seconds else "on"
    report.warnings.append(
        f"{report.off_grid} rows are off the {report.timeframe} grid of the others (which open {shift} the "
        f"UTC {report.timeframe} boundaries); first: {'row' if fmt == 'parquet' else 'line'} {lines[r]}, "
        f"{when}; a panel (align) refuses mixed offsets"
    )


# bars: a longer hole, or a longer run of zero-volume flat candles, stays a gap or masked even where hours
# without trades are read as such (an outage, a halted market)
NO_TRADE_FILL = 24
# how ``load_ohlcv`` reads an hour without trades: a hole or a zero-volume flat candle (in runs shorter than
# NO_TRADE_FILL bars)
MISSING_HOURS = ("auto", "no-trades", "absent")
# "auto": such hours this common (a share of the hours from the first candle to the last) are a thinly traded
# market's hours without trades; rarer ones are outages. The bundled Binance files' outages cover at most
# 1.25% of the hours of any 60 days (2018), 0.03% to 0.32% of a whole file.
NO_TRADE_SHARE = 0.03


def _zero_volume_runs(frame: pd.DataFrame) -> np.ndarray:
    """bool ``[rows]``: the zero-volume flat candles in runs shorter than :data:`NO_TRADE_FILL` rows."""
    flat = zero_volume_flat(frame)
    edges = np.diff(np.r_[0, flat.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = np.zeros(flat.size, dtype=bool)
    for i, j in zip(starts, stops):
        out[i:j] = j - i < NO_TRADE_FILL
    return out


def _hours_without_trades(missing_hours: str, fmt: str, frame: pd.DataFrame) -> bool:
    """``missing_hours`` resolved for one file: are its holes and zero-volume flat candles (in runs shorter
    than a day) hours without trades?

    ``"auto"``: yes in Kraken's and Coinbase's formats (their sources write no candle for an hour without
    trades), and in a file where such hours cover at least :data:`NO_TRADE_SHARE` of its hours (a thinly
    traded market: an exchange writes its hours without trades as zero-volume candles, or leaves them out);
    otherwise they are an exchange's downtime (left out, or placeholders the panel masks) or rows a user
    removed."""
    if missing_hours != "auto":
        return missing_hours == "no-trades"
    if fmt in NO_TRADE_HOLES:
        return True
    seconds = index_seconds(frame.index)
    step = int(infer_step(seconds) or 0)
    if step <= 0:
        return False
    run = np.diff(seconds) // step - 1
    hours = int(run[(run > 0) & (run < NO_TRADE_FILL)].sum()) + int(_zero_volume_runs(frame).sum())
    return hours >= NO_TRADE_SHARE * (int(run.clip(min=0).sum()) + seconds.size)


def _fill_no_trade_bars(frame: pd.DataFrame, report: QualityReport, dropped: np.ndarray) -> pd.DataFrame:
    """A frame with its intervals without trades written (Kraken's OHLCVT files, Coinbase's candle API and
    other sources write no candle for an interval without a trade): each run of fewer than
    :data:`NO_TRADE_FILL` missing bars between two candles becomes flat candles at the previous close with
    zero volume and zero trades, flagged ``no_trades`` (the panel keeps them: a market that did not trade, not
    an exchange's downtime placeholder). Counted in the report's ``no_trade_bars``. Each written candle
    holds only its previous close: nothing after it. The times of ``dropped`` rows (Unix seconds: invalid
    rows dropped under ``errors="drop"``) stay missing: a row the file has is no interval without trades."""
    with needs_extra("data"):
        import pandas as pd

    seconds = index_seconds(frame.index)
    step = int(infer_step(seconds) or 0)
    frame["no_trades"] = False
    if step <= 0 or seconds.size < 2:
        return frame
    run = np.diff(seconds) // step - 1  # missing bars after each candle
    fill = np.flatnonzero((run > 0) & (run < NO_TRADE_FILL) & (np.diff(seconds) % step == 0))
    if not fill.size:
        return frame
    times = np.concatenate([seconds[i] + step * np.arange(1, run[i] + 1) for i in fill])
    closes = np.repeat(frame["close"].to_numpy()[fill], run[fill])
    written = ~np.isin(times, dropped)
    times, closes = times[written], closes[written]
    added = pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes, "volume": 0.0,
         "quote_volume": 0.0 if frame["quote_volume"].notna().any() else np.nan, "trades": 0.0,
         "suspicious": False, "possibly_open": False, "no_trades": True},
        index=pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True), name="timestamp"),
    )  # fmt: skip
    report.no_trade_bars = int(times.size)
    out = pd.concat([frame, added[frame.columns]]).sort_index()
    out.attrs = frame.attrs
    return out


def _one_symbol(table: RawTable, path: str) -> None:
    """A symbol column must name one symbol: rows of several assets cannot be one series."""
    if "symbol" not in table.columns or not len(table):
        return
    raw = [str(s) for s in table.columns["symbol"]]
    names = {s: normalise_symbol(s) for s in set(raw) if s.strip()}
    if len(set(names.values())) > 1:
        first = next(r for r, s in enumerate(raw) if s in names)
        other = next(r for r, s in enumerate(raw) if s in names and names[s] != names[raw[first]])
        raise DataValidationError(
            f"symbol {raw[other]!r} differs from {raw[first]!r} (line {table.lines[first]}); expected one "
            "symbol per file (split the file by symbol)",
            path=path,
            line=int(table.lines[other]),
            column=table.source_names.get("symbol", "symbol"),
        )


def load_ohlcv(
    path: str | Path,
    *,
    errors: str = "raise",
    symbol: str | None = None,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> pd.DataFrame:
    """Read an OHLCV file (CryptoDataDownload, Binance klines, generic CSV or Parquet; gzip too).

    Args:
        path: the file. Its format is detected from the content (see ``data._formats``).
        errors: ``"raise"`` (default) raises :class:`DataValidationError` on the first invalid row;
            ``"drop"`` drops invalid rows and lists them in the report's ``dropped``.
        symbol: the symbol, when the file has no symbol column and its name does not say. Default: None.
        missing_hours: how an hour without trades is read: a hole of fewer than :data:`NO_TRADE_FILL`
            bars between two candles, or a zero-volume flat candle (in a run shorter than that).
            ``"no-trades"``: a market that did not trade: holes written as flat zero-volume candles at the
            previous close, those and the zero-volume candles flagged ``no_trades`` (the panel keeps
            them). ``"absent"``: an exchange's downtime: holes left out, zero-volume candles masked by the
            panel as placeholders. ``"auto"`` (default): ``"no-trades"`` in Kraken's OHLCVT and Coinbase's
            candle files and in a file where such hours cover at least :data:`NO_TRADE_SHARE` (3%) of its
            hours (a thinly traded market); ``"absent"`` elsewhere. Longer holes and runs always stay.
        timezone: the zone of times written without one (``"Asia/Shanghai"``, ``"UTC+8"``: see
            :func:`~ml_attention_mechanisms.data._timestamps.parse_timezone`), converted to UTC. Unix values
            and dates with their own offset are exact and keep their time. Default: None (UTC).

    Returns:
        A frame indexed by a tz-aware UTC ``DatetimeIndex`` named ``timestamp`` (bar open time, ascending,
        unique) with float columns ``open, high, low, close, volume`` (base-asset volume), ``quote_volume``
        and ``trades`` where the file has them (NaN where a row lacks them), and bool flags
        ``suspicious`` and ``possibly_open`` (the panel layer masks them), and ``no_trades`` (hours
        without trades, written or kept, see ``missing_hours``; kept by the panel layer). ``df.attrs`` holds
        ``symbol``, ``timeframe``, ``source`` and ``quality_report`` (a :class:`QualityReport`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory (an ``OSError`` too, like an unreadable file).
        DataValidationError: (a ``ValueError``) the file is empty, truncated, not text, lacks a required
            column, or (with ``errors="raise"``) has an unparseable number or timestamp, a non-positive
            price, ``high < low``, or an open/close outside ``[low, high]``; the message names the file, the
            line, the column and what was expected.
        ValueError: ``errors`` is not ``"raise"`` or ``"drop"``, ``missing_hours`` not one of
            :data:`MISSING_HOURS`, or ``timezone`` names no zone.

    Examples:
        >>> import pathlib, tempfile
        >>> import pandas as pd
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "BTCUSDT_1h.csv"
        >>> pd.DataFrame({
        ...     "timestamp": ["2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 02:00"],
        ...     "open": [100.0, 100.5, 101.0], "high": [101.0, 102.0, 101.5], "low": [99.0, 100.0, 100.2],
        ...     "close": [100.5, 101.0, 100.8], "volume": [12.0, 8.0, 9.5],
        ... }).to_csv(path, index=False)
        >>> df = load_ohlcv(path)
        >>> len(df), df.attrs["symbol"], df.attrs["timeframe"], str(df.index[0])
        (3, 'BTC/USDT', '1h', '2021-01-01 00:00:00+00:00')
    """
    with needs_extra("data"):
        import pandas as pd

    if errors not in ("raise", "drop"):
        raise ValueError(f"load_ohlcv: errors={errors!r}; expected 'raise' or 'drop'")
    if missing_hours not in MISSING_HOURS:
        raise ValueError(
            f"load_ohlcv: missing_hours={missing_hours!r}; expected one of {', '.join(map(repr, MISSING_HOURS))}"
        )
    zone = parse_timezone(timezone) if timezone is not None else None
    path = Path(path)
    table = read_table(
        path, errors=errors, symbol=normalise_symbol(symbol) if symbol else _symbol_from_name(path)
    )
    _one_symbol(table, str(path))
    report = QualityReport(
        path=str(path),
        format=table.format,
        rows_read=len(table) + len(table.dropped),
        banner_lines=table.banner_lines,
    )
    report.dropped += table.dropped
    for col in _REQUIRED:
        if col not in table.columns:
            raise DataValidationError(
                f"required column missing (found {table.header}; expected "
                "open, high, low, close, volume and a timestamp)",
                path=str(path),
                column=col,
            )
    try:
        stamps = resolve_timestamps(table.columns, zone)
    except KeyError:
        raise DataValidationError(
            "no timestamp column (expected unix, timestamp, open_time, date or datetime)",
            path=str(path),
            column="timestamp",
        ) from None
    report.timestamps_from_date = stamps.from_date
    names = table.source_names
    primary = stamps.unix_key or stamps.date_key
    report.time_column = names.get(primary, primary) if primary else None
    if stamps.unix_key is not None and stamps.date_key is not None:
        report.date_column = names.get(stamps.date_key, stamps.date_key)
    report.date_column_disagreements = stamps.disagreements
    report.warnings += stamps.warnings
    report.naive_times = stamps.naive_rows
    if zone is not None:
        report.timezone = str(zone) if stamps.naive_rows else None
        if not stamps.naive_rows:
            report.warnings.append(
                f"timezone {timezone!r} not used: every time is a unix value or carries its own zone (exact)"
            )
    invalid = dict(stamps.invalid)
    values = parse_numbers(table.columns, (*_REQUIRED, *_OPTIONAL), _OPTIONAL, invalid)
    _row_rules(values, invalid)
    # a row with a time and nothing else is no candle: a hole (Bitstamp's minute data writes one for each
    # minute without trades), read as missing_hours says
    empty = empty_rows(table.columns, _REQUIRED)
    empty[list(stamps.invalid)] = False
    for r in np.flatnonzero(empty).tolist():
        invalid.pop(r, None)
    report.empty_rows = int(empty.sum())
    keep = ~empty
    if not keep.any():
        raise DataValidationError(
            "every row is empty (a time without open, high, low, close or volume); nothing left to load",
            path=str(path),
        )
    if invalid:
        rows = sorted(invalid, key=lambda r: table.lines[r])
        line_word = "row" if table.format == "parquet" else "line"
        if errors == "raise":
            r = rows[0]
            col, why = invalid[r]
            more = f" ({len(rows) - 1} more invalid rows; errors='drop' drops them)" if len(rows) > 1 else ""
            raise DataValidationError(
                why + more,
                path=str(path),
                line=int(table.lines[r]),
                column=table.source_names.get(col, col),
                line_word=line_word,
            )
        for r in rows:
            col, why = invalid[r]
            report.dropped.append(
                f"{line_word} {table.lines[r]}, column {table.source_names.get(col, col)!r}: {why}"
            )
        keep[rows] = False
        if not keep.any():
            raise DataValidationError("every row is invalid; nothing left to load", path=str(path))
    seconds = stamps.seconds[keep]
    values = {k: a[keep] for k, a in values.items()}
    report.reordered = bool(np.any(np.diff(seconds) < 0))
    order = _dedupe(seconds, values, report)
    index = pd.DatetimeIndex(pd.to_datetime(seconds[order], unit="s", utc=True), name="timestamp")
    frame = pd.DataFrame({k: values[k][order] for k in _REQUIRED}, index=index)
    for col in _OPTIONAL:
        frame[col] = values[col][order] if col in values else np.nan
    suspicious, possibly_open = flag_candles(frame)
    frame["suspicious"] = suspicious
    frame["possibly_open"] = possibly_open
    sym = (
        symbol
        or (table.columns["symbol"][0] if "symbol" in table.columns and len(table) else None)
        or table.symbol  # yfinance's Ticker row
        or _symbol_from_name(path)
    )
    report.symbol = normalise_symbol(str(sym)) if sym else None
    validate_ohlcv(frame, report)
    if report.off_grid:
        _off_grid_warning(report, seconds[order], table.lines[keep][order], table.format)
    if _hours_without_trades(missing_hours, table.format, frame):
        report.missing_hours = "no-trades"
        kept = frame.index[_zero_volume_runs(frame)]  # read as hours without trades, not placeholders
        report.zero_volume_kept = int(kept.size)
        timed = [r for r in np.flatnonzero(~keep & ~empty) if r not in stamps.invalid]  # dropped, with a time
        frame = _fill_no_trade_bars(frame, report, stamps.seconds[timed])
        frame.loc[kept, "no_trades"] = True
    else:
        frame["no_trades"] = False
    frame.attrs.update(
        symbol=report.symbol, timeframe=report.timeframe, source=str(path), quality_report=report
    )
    return frame
