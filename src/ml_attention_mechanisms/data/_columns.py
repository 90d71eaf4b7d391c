"""Column names: a file's header (or a headerless row's shape) -> the loader's canonical columns.

- Header names are matched case-insensitively, with ``_``, spaces and brackets collapsed and a trailing
  ``UTC``/``GMT`` ignored (``Open Time``, ``open_time``, ``Date (UTC)``, ``Volume_(BTC)``).
- ``Volume <CUR>`` columns are assigned by currency: the symbol's base currency is the base volume, its quote
  currency the quote volume. Without a symbol, a fiat or stablecoin currency (USD, USDT, EUR, ...) is the
  quote; otherwise the first is the base (CryptoDataDownload writes the base first). A file with only a
  quote-currency volume is refused: the base volume cannot be recovered exactly.
- Headerless rows: Binance klines (12 columns, the 7th a close time), Kraken OHLCVT
  (``time, open, high, low, close, volume, trades``) and plain ``time, open, high, low, close, volume``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .validation import DataValidationError

__all__ = [
    "QUOTES",
    "asset_name",
    "base_currency",
    "headerless_columns",
    "known_asset_id",
    "map_columns",
    "norm",
    "normalise_symbol",
]

QUOTES = (
    "USDT", "USDC", "BUSD", "TUSD", "FDUSD", "USD", "EUR", "GBP", "KRW", "JPY", "AUD", "CAD", "BRL", "BTC", "ETH",
    "BNB",
)  # fmt: skip
# currencies that are a quote whenever a file does not say otherwise
_FIAT = frozenset(
    {"USD", "USDT", "USDC", "BUSD", "TUSD", "FDUSD", "DAI", "EUR", "GBP", "JPY", "KRW", "AUD", "CAD", "CHF",
     "TRY", "BRL", "RUB", "CURRENCY", "QUOTE"}
)  # fmt: skip
_BINANCE_KLINE_COLUMNS = (
    "unix", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
    "taker_buy_base", "taker_buy_quote", "ignore",
)  # fmt: skip
_EARLIEST_UNIX = 631_152_000  # 1990-01-01 in seconds: a smaller 7th field is a trade count (Kraken)
_KRAKEN_COLUMNS = ("unix", "open", "high", "low", "close", "volume", "trades")

# normalised header (lower case, '_', brackets and spaces collapsed) -> canonical name
_ALIASES: dict[str, str] = {
    "unix": "unix", "unix timestamp": "unix", "unixtimestamp": "unix", "open time": "unix", "opentime": "unix",
    "ts": "unix", "epoch": "unix",
    "timestamp": "timestamp", "time": "time", "date": "date", "datetime": "date", "date time": "date",
    "symbol": "symbol", "pair": "symbol", "ticker": "symbol",
    "open": "open", "high": "high", "low": "low", "close": "close",
    "volume": "volume", "vol": "volume", "base volume": "volume", "base asset volume": "volume",
    "volumefrom": "volume",
    "quote volume": "quote_volume", "quote asset volume": "quote_volume", "quote_volume": "quote_volume",
    "volumeto": "quote_volume", "volume currency": "quote_volume", "volume quote": "quote_volume",
    "tradecount": "trades", "trade count": "trades", "trades": "trades", "number of trades": "trades",
    "count": "trades",
    # Polygon's aggregate bars, as written out: t (unix ms), o, h, l, c, v, n (trades), vw (VWAP, not read)
    "t": "time", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "n": "trades",
}  # fmt: skip
_VOLUME_RE = re.compile(r"^volume ([a-z0-9]+)$")
# a time column whose header names its unit: "time[s]", "Timestamp (ms)", "open_time_us" (the unit is read from
# the values' magnitude, as for any unix column)
_TIME_UNIT_RE = re.compile(
    r"^(unix|timestamp|time|open time|epoch) (s|sec|secs|seconds|ms|millis|milliseconds|us|ns)$"
)


def norm(name: str) -> str:
    """``" Open_Time "`` -> ``"open time"``; ``"Date (UTC)"`` -> ``"date"``; ``"Volume_(BTC)"`` -> ``"volume btc"``."""
    key = re.sub(r"[\s_()\[\]]+", " ", str(name).strip().lower()).strip()
    return re.sub(r" (utc|gmt)$", "", key)


def normalise_symbol(text: str) -> str:
    """``"BTCUSDT"``, ``"btc-usdt"``, ``"BTC/USDT"`` -> ``"BTC/USDT"`` (unknown quotes are left as they are).

    A quote is split off only where it leaves a base of at least three characters (``"XBTUSD"`` is
    XBT/USD, not XB/TUSD), unless no quote does. A pair written quote first, a fiat or stable coin before a
    coin (Upbit's and Bittrex's market codes ``"KRW-BTC"``, ``"USDT-ETH"``), is turned round: ``"BTC/KRW"``.
    """
    s = text.strip().upper().replace("-", "/").replace("_", "/")
    if "/" in s:
        base, _, quote = s.partition("/")
        return f"{quote}/{base}" if base in _FIAT and quote and quote not in _FIAT and "/" not in quote else s
    splits = [(s[: -len(q)], q) for q in QUOTES if s.endswith(q) and len(s) > len(q)]
    for base, quote in sorted(splits, key=lambda bq: len(bq[0]) < 3):
        return f"{base}/{quote}"
    return s


# another exchange's name of a coin: Kraken writes BTC as XBT and DOGE as XDG
_COIN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


def base_currency(symbol: str) -> str:
    """The coin a symbol trades, by its common name: ``"BTC/USDT"``, ``"BTCUSDT"``, ``"btc-usd"``,
    ``"XBT/USD"`` (Kraken) -> ``"BTC"``."""
    base = normalise_symbol(symbol).split("/")[0]
    return _COIN_ALIASES.get(base, base)


def asset_name(symbol: str) -> str:
    """The asset a symbol stands for: its coin where it is priced in a fiat currency or a stablecoin, or
    where no quote is named (``"BTC/USDT"``, ``"XBT/USD"``, ``"BTC/EUR"``, ``"BTC"`` -> ``"BTC"``); the
    pair, without its slash, where it is priced in another coin (``"ETH/BTC"`` -> ``"ETHBTC"``: ether in
    bitcoin is another price series than ether in dollars)."""
    pair = normalise_symbol(symbol)
    base, _, quote = pair.partition("/")
    if not quote or quote in _FIAT:
        return base_currency(pair)
    return f"{_COIN_ALIASES.get(base, base)}{_COIN_ALIASES.get(quote, quote)}"


def known_asset_id(symbol: str, known: Mapping[str, int]) -> int:
    """The id a run gave ``symbol``'s asset (``known``: a checkpoint's ``symbols``, ``{"BTC/USDT": 1, ...}``).

    The symbol's own entry (as written, or normalised: ``"BTCUSDT"`` is ``"BTC/USDT"``), else the one entry
    of the same asset (:func:`asset_name`) on another market or exchange (``BTC/USD``, ``XBTUSD`` for a run
    trained on ``BTC/USDT``); 0, the unknown asset, for an asset the run did not train on (``ETH/BTC`` for a
    run trained on ``ETH/USDT``; or one it trained on in several markets, which would be ambiguous).
    """
    pair = normalise_symbol(symbol)
    for s, i in known.items():
        if s == symbol or normalise_symbol(s) == pair:
            return int(i)
    name = asset_name(symbol)
    ids = {int(i) for s, i in known.items() if asset_name(s) == name}
    return ids.pop() if len(ids) == 1 else 0


def _currencies(symbol: str | None) -> tuple[str | None, str | None]:
    if not symbol or "/" not in symbol:
        return None, None
    base, _, quote = symbol.partition("/")
    return base, quote


def map_columns(header: list[str], path: str, symbol: str | None) -> dict[str, int]:
    """canonical name -> column index, for a header row; ``symbol`` (``"BTC/USD"``) decides the volumes.

    Raises:
        DataValidationError: the only volume columns are in the quote currency.
    """
    mapping: dict[str, int] = {}
    volumes: list[tuple[str, int]] = []
    for i, name in enumerate(header):
        key = norm(name)
        if m := _TIME_UNIT_RE.match(key):
            key = m.group(1)
        canon = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", ""))
        if canon is None and (m := _VOLUME_RE.match(key)):
            volumes.append((m.group(1).upper(), i))
            continue
        if canon is not None and canon not in mapping:
            mapping[canon] = i
    leading = next((i for i, name in enumerate(header) if not _unnamed(name)), len(header))
    if leading and not mapping.keys() & {"unix", "timestamp", "date", "time"}:
        # pandas' index without a name (``df.to_csv`` of a DatetimeIndex: pyupbit's candles); read back and
        # saved again, a row number comes before it: the last of the unnamed columns that lead the header
        mapping["timestamp"] = leading - 1
    if not volumes:
        return mapping
    base_cur, quote_cur = _currencies(symbol)
    bases: list[int] = []
    quotes: list[int] = []
    for cur, i in volumes:
        is_quote = cur == quote_cur or (cur != base_cur and cur in _FIAT)
        (quotes if is_quote else bases).append(i)
    if len(bases) > 1 and not quotes:  # two non-fiat currencies and no symbol: base first
        quotes.append(bases.pop(1))
    if "volume" not in mapping:
        if not bases:
            raise DataValidationError(
                f"the only volume column is in the quote currency (symbol {symbol or 'unknown'}); expected "
                "the base-asset volume too (e.g. 'Volume BTC' for BTC/USD)",
                path=path,
                column=header[quotes[0]],
            )
        mapping["volume"] = bases[0]
    if quotes and "quote_volume" not in mapping:
        mapping["quote_volume"] = quotes[0]
    return mapping


def _unnamed(name: str) -> bool:
    """A header cell pandas writes for an index without a name: empty, or ``Unnamed: 0`` read back."""
    return re.fullmatch(r"(unnamed: \d+(\.\d+)?)?", norm(name)) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def headerless_columns(first: list[str], path: str, line: int) -> tuple[list[str], str]:
    """Column names and format name for a file whose first row is data (its first cell is a number).

    Raises:
        DataValidationError: the row is not a Binance kline, a Kraken OHLCVT or a plain OHLCV row.
    """
    numbers = [_number(c) for c in first]
    expected = (
        "expected a header row, or headerless rows of Binance klines (open time, open, high, low, close, "
        "volume, close time, ...), Kraken OHLCVT (time, open, high, low, close, volume, trades) or "
        "time, open, high, low, close, volume"
    )
    if len(first) < 6 or any(x is None for x in numbers[:6]):
        raise DataValidationError(
            f"first row {first[:8]} has no header and is not {len(first)} numbers; {expected}",
            path=path,
            line=line,
        )
    if len(first) == 6:
        return ["unix", "open", "high", "low", "close", "volume"], "headerless-ohlcv"
    seventh = numbers[6]
    if seventh is not None and seventh >= _EARLIEST_UNIX:  # a close time (s, ms or us), not a trade count
        extra = [f"extra_{i}" for i in range(len(first) - 12)]
        return list(_BINANCE_KLINE_COLUMNS[: len(first)]) + extra, "binance-klines"
    if len(first) == 7:
        return list(_KRAKEN_COLUMNS), "kraken-ohlcvt"
    raise DataValidationError(
        f"headerless row of {len(first)} fields whose 7th field {first[6]!r} is not a close time (a unix "
        f"time); {expected}",
        path=path,
        line=line,
    )


def looks_like_data(row: list[str]) -> bool:
    """A first row with four or more numbers is data, not a header (e.g. a headerless file with dates)."""
    return sum(_number(c) is not None for c in row) >= 4
