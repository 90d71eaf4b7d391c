"""File formats: read a market-data file into a raw table of strings with file line numbers.

Recognised (detected from the content, never from the file name):

- CryptoDataDownload exports: ``unix,date,symbol,open,high,low,close,Volume <BASE>,Volume <QUOTE>,tradecount``
  (format A) or with a separate ``time`` column (format B); an optional banner line above the header
  (``Timestamps are UTC timezone,https://www.CryptoDataDownload.com``); ``Unix Timestamp``/``Date``/``Symbol``
  headers; any capitalisation.
- Headerless rows (see ``data._columns``): Binance's kline CSVs (open time in s, ms or us, open, high, low,
  close, volume, close time, quote volume, trades, taker buy base, taker buy quote, ignore), Kraken's OHLCVT
  (time, open, high, low, close, volume, trades) and plain time, open, high, low, close, volume.
- A JSON array of candle arrays (Binance's klines API, freqtrade's ``.json`` files), read as the headerless rows
  above; a Feather file (freqtrade's default ``.feather``) as a Parquet one.
- Any CSV or Parquet file with recognisable column names (``timestamp``/``open_time``/``date``/``datetime``,
  ``open``, ``high``, ``low``, ``close``, ``volume``, ``quote_volume``, ``trades``, ...).
- yfinance's CSV (``yf.download(...).to_csv(...)``): a ``Price,Close,High,Low,Open,Volume`` row, a
  ``Ticker,BTC-USD,...`` row (the symbol) and a row naming the time column, then the rows.
- Any of them gzip-compressed or alone in a ZIP archive (Binance's kline downloads; detected by the magic
  bytes; an Excel workbook is refused); a UTF-8 BOM, CRLF line endings, blank lines,
  spaces around fields and a trailing separator on every row are tolerated; the field separator (``,``
  ``;`` tab ``|``) is the one every line of the header and first rows holds equally often.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._import_guard import needs_extra
from ._columns import headerless_columns, looks_like_data, map_columns, norm, normalise_symbol
from .validation import DataValidationError

__all__ = ["COINBASE_CANDLES", "NO_TRADE_HOLES", "RawTable", "read_table"]

COINBASE_CANDLES = ("time", "low", "high", "open", "close", "volume")  # Coinbase's candle API column order
# formats whose source writes no candle for an interval without trades (Kraken's OHLCVT files; Coinbase's
# candle API: "no data is published for intervals where there are no ticks"): a short hole is such an interval
NO_TRADE_HOLES = ("kraken-ohlcvt", "coinbase-candles")

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_ARROW_MAGIC = b"ARROW1"


@dataclass
class RawTable:
    """A file's rows as strings, by canonical column, with their 1-based file lines."""

    path: str
    format: str
    columns: dict[str, np.ndarray]  # canonical name -> object array (strings, or values for Parquet)
    source_names: dict[str, str]  # canonical name -> the column's name in the file (for messages)
    header: list[str]  # the file's column names, as written
    lines: np.ndarray  # int64 [rows]
    banner_lines: int = 0
    symbol: str | None = None
    dropped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.lines.size)


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:4] == _ZIP_MAGIC:
        data = _zip_member(path, data)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataValidationError(
                f"damaged gzip file ({exc}); expected a complete .gz", path=str(path)
            ) from None
    return data


def _zip_member(path: Path, data: bytes) -> bytes:
    """The one file of a ZIP archive (Binance's monthly and daily kline downloads, ``BTCUSDT-1h-2024-01.zip``).

    Raises:
        DataValidationError: a damaged archive, an Excel workbook, or an archive of more or fewer than one file.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
            if "[Content_Types].xml" in names:
                raise DataValidationError(
                    "an Excel workbook; expected CSV, Parquet, Feather or JSON (save the sheet as CSV)",
                    path=str(path),
                )
            if len(names) != 1:
                raise DataValidationError(
                    f"a ZIP archive of {len(names)} files ({', '.join(names[:5])}); expected one file per archive "
                    "(unzip it and pass each file)",
                    path=str(path),
                )
            return archive.read(names[0])
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataValidationError(
            f"damaged ZIP archive ({exc}); expected a complete .zip", path=str(path)
        ) from None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _columnar_table(path: Path, data: bytes, symbol_hint: str | None, kind: str = "parquet") -> RawTable:
    """A Parquet file, or a Feather (Arrow IPC) one with ``kind="feather"`` (freqtrade's default format)."""
    with needs_extra("data"):
        import pandas as pd
        import pyarrow  # noqa: F401 - read_parquet's engine: imported here, else its absence reads as a bad file

    try:
        frame = pd.read_feather(io.BytesIO(data)) if kind == "feather" else pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for damaged files
        name = "Feather" if kind == "feather" else "Parquet"
        raise DataValidationError(f"unreadable {name} file ({exc})", path=str(path)) from None
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names="timestamp" if frame.index.name is None else frame.index.name)
    header = [str(c) for c in frame.columns]
    mapping = map_columns(header, str(path), symbol_hint)
    columns = {canon: frame.iloc[:, i].to_numpy(dtype=object) for canon, i in mapping.items()}
    return RawTable(
        path=str(path),
        format=kind,
        columns=columns,
        source_names={canon: header[i] for canon, i in mapping.items()},
        header=header,
        lines=np.arange(1, len(frame) + 1, dtype=np.int64),
    )


def _delimiter(text: str) -> str:
    """The field separator: the one of , ; tab | found most consistently in the first lines."""
    candidates = (",", ";", "\t", "|")
    head = [ln for ln in text.splitlines()[:8] if ln.strip() and not _is_banner(ln)]
    # a title line holds no separator at all; the header counts, so a decimal comma cannot win over ';'
    head = [ln for ln in head if any(c in ln for c in candidates)] or head
    best, best_count = ",", 0
    for cand in candidates:
        count = min((ln.count(cand) for ln in head), default=0)
        if count > best_count:
            best, best_count = cand, count
    return best


def _is_banner(text: str) -> bool:
    low = text.lower()
    return any(k in low for k in ("cryptodatadownload", "http", "timestamps are"))


def _json_rows(text: str, path: str) -> str:
    """A JSON array of candle arrays (Binance's klines API, freqtrade's ``.json`` files: ``[[1614556800000,
    45134.1, ...], ...]``) as the equivalent headerless CSV text, one candle a line.

    Raises:
        DataValidationError: not JSON, or not an array of arrays of numbers (or numeric strings).
    """
    try:
        candles = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            f"not valid JSON ({exc.msg}); expected an array of candles", path=path, line=exc.lineno
        ) from None
    ok = isinstance(candles, list) and all(
        isinstance(c, list)
        and c
        and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in c)
        for c in candles
    )
    if not ok or not candles:
        raise DataValidationError(
            "a JSON file that is not an array of candle arrays; expected e.g. [[1614556800000, 45134.1, 45200.0, "
            "45000.0, 45100.0, 12.5], ...] (open time, open, high, low, close, volume)",
            path=path,
        )
    return "\n".join(",".join(str(v) for v in c) for c in candles) + "\n"


def _yfinance_ticker(header: list[str], body: list[list[str]], path: str, line: int) -> str | None:
    """The ticker of a file that yfinance wrote (``yf.download(...).to_csv(...)``: a ``Price,Close,High,...``
    row, a ``Ticker,BTC-USD,...`` row, then a row naming the time column alone), or None for any other file.

    Raises:
        DataValidationError: a yfinance file of several tickers.
    """
    if norm(header[0]) != "price" or len(body) < 3 or norm(body[0][0]) != "ticker" or any(body[1][1:]):
        return None
    tickers = sorted({t for t in body[0][1:] if t})
    if len(tickers) != 1:
        raise DataValidationError(
            f"a yfinance file of {len(tickers)} tickers ({', '.join(tickers)}); expected one asset per file "
            "(download or save each ticker on its own)",
            path=path,
            line=line + 1,
        )
    return tickers[0]


def read_table(path: str | Path, *, errors: str = "raise", symbol: str | None = None) -> RawTable:
    """Read ``path`` into a :class:`RawTable` (no interpretation of values yet).

    ``symbol`` (e.g. ``"BTC/USD"``, from the caller or the file name) tells base from quote volume where the
    file has no symbol column.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        DataValidationError: the file is empty, not text, truncated (a row with too few fields), or has no
            recognisable columns.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        # unreadable as a file, like a missing one: an OSError, not invalid data
        raise IsADirectoryError(f"{path}: is a directory; expected a CSV or Parquet file")
    data = _read_bytes(path)
    if data[:4] == _PARQUET_MAGIC:
        return _columnar_table(path, data, symbol)
    if data[:6] == _ARROW_MAGIC:
        return _columnar_table(path, data, symbol, "feather")
    if not data.strip():
        raise DataValidationError("file is empty; expected a header and OHLCV rows", path=str(path))
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")  # a BOM: Excel's "Unicode text" export
    if b"\x00" in data[:65536] and not utf16:
        raise DataValidationError("not a text file (binary content); expected CSV text", path=str(path))
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"not {'UTF-16' if utf16 else 'UTF-8'} text ({exc.reason} at byte {exc.start}); expected CSV text",
            path=str(path),
        ) from None

    if text.lstrip()[:1] in ("[", "{"):
        text = _json_rows(text, str(path))
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    start_line = 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append([cell.strip() for cell in row])
                lines.append(start_line)
            start_line = reader.line_num + 1
    except csv.Error as exc:
        raise DataValidationError(f"malformed CSV ({exc})", path=str(path), line=reader.line_num) from None
    if not rows:
        raise DataValidationError("file is empty; expected a header and OHLCV rows", path=str(path))

    banner = 0
    # banner lines above the header: CryptoDataDownload's ("Timestamps are UTC timezone,https://...") or a
    # lone title cell
    while banner < len(rows) - 1 and (
        any(_is_banner(c) for c in rows[banner]) or (len(rows[banner]) == 1 and len(rows[banner + 1]) > 1)
    ):
        banner += 1
    first = rows[banner]
    has_header = not _looks_numeric(first[0])
    ticker = None  # yfinance's Ticker row: the symbol of a file without a symbol column
    if has_header:
        if looks_like_data(first):
            raise DataValidationError(
                f"the first row {first[:6]} looks like data, not a header; expected a header row naming the "
                "columns (e.g. timestamp,open,high,low,close,volume) or headerless rows starting with a unix time",
                path=str(path),
                line=lines[banner],
            )
        header = first
        while len(header) > 1 and not header[-1]:  # a trailing separator after the last name
            header = header[:-1]
        body, body_lines = rows[banner + 1 :], lines[banner + 1 :]
        fmt = "cryptodatadownload" if any(norm(h) in ("unix", "unix timestamp") for h in header) else "csv"
        ticker = _yfinance_ticker(header, body, str(path), lines[banner])
        if ticker is not None:  # yfinance's three header rows: Price, Ticker, then the index's name
            header = [body[1][0], *header[1:]]
            body, body_lines = body[2:], body_lines[2:]
            fmt = "yfinance"
        if [norm(h) for h in header] in (list(COINBASE_CANDLES), ["timestamp", *COINBASE_CANDLES[1:]]):
            fmt = "coinbase-candles"  # the order of Coinbase's candle API: it publishes none without trades
    else:
        header, fmt = headerless_columns(first, str(path), lines[banner])
        body, body_lines = rows[banner:], lines[banner:]
    if not body:
        raise DataValidationError("no data rows after the header; expected OHLCV rows", path=str(path))

    symbol_hint = symbol
    sym_idx = next((i for i, h in enumerate(header) if norm(h) in ("symbol", "pair", "ticker")), None)
    if sym_idx is not None and len(body[0]) > sym_idx and body[0][sym_idx]:
        symbol_hint = normalise_symbol(body[0][sym_idx])
    mapping = map_columns(header, str(path), symbol_hint)
    width = len(header)
    dropped: list[str] = []
    keep_rows: list[list[str]] = []
    keep_lines: list[int] = []
    for row, line in zip(body, body_lines):
        while len(row) > width and not row[-1]:  # a trailing separator (empty last field) the header lacks
            row = row[:-1]
        if has_header and (row == header or any(_is_banner(c) for c in row)):  # concatenated exports
            dropped.append(f"line {line}: a repeated {'header' if row == header else 'banner'} line, skipped")
            continue
        if len(row) == width:
            keep_rows.append(row)
            keep_lines.append(line)
            continue
        last = line == body_lines[-1]
        reason = f"has {len(row)} fields, expected {width} as in the header" + (
            " (truncated file?)" if last else ""
        )
        if errors == "drop":
            dropped.append(f"line {line}: {reason}")
            continue
        raise DataValidationError(reason, path=str(path), line=line)
    if not keep_rows:
        raise DataValidationError("no complete data rows; expected OHLCV rows", path=str(path))
    matrix = np.array(keep_rows, dtype=object)
    columns = {canon: matrix[:, i] for canon, i in mapping.items()}
    table = RawTable(
        path=str(path),
        format=fmt,
        columns=columns,
        source_names={canon: header[i] for canon, i in mapping.items()},
        header=list(header),
        lines=np.asarray(keep_lines, dtype=np.int64),
        banner_lines=banner,
        symbol=rows[banner + 1][sym_idx] if sym_idx is not None and has_header else ticker,
        dropped=dropped,
    )
    return table
