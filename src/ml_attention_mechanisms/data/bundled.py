"""The dataset shipped inside the package: ``load_dataset("binance-1h")``, no network access.

``binance-1h``: hourly Binance spot candles of BTC, ETH, LTC, BNB and ADA against USDT, 2017-08-17 to
2021-06-10 (BNB and ADA from 2020-08-01), as exported by CryptoDataDownload and published in the public
repositories andrewsiah/crypto-historical-data (BTC, ETH, BNB, ADA) and zuvelatamara/Data-Crypto2 (LTC).
The shipped files are those exports cleaned by :func:`load_ohlcv` (sorted, UTC, one row per hour: the
complete candle of each duplicated hour kept) and gzip-compressed; nothing else is changed: gaps,
zero-volume placeholders and the unfinished last hour stay in and are masked by the panel. The quality
reports of the original exports travel in the manifest ``binance-1h.json`` and come back as ``panel.reports``.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._import_guard import needs_extra
from .loader import load_ohlcv, normalise_symbol
from .panel import MarketPanel, align
from .validation import QualityReport, flag_candles

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUNDLED_DIR", "DEFAULT_SPLIT", "available_datasets", "build_bundled_dataset", "load_dataset"]

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_SOURCES = {
    "BTC/USDT": ("Binance_BTCUSDT_1h.csv", "andrewsiah/crypto-historical-data"),
    "ETH/USDT": ("Binance_ETHUSDT_1h.csv", "andrewsiah/crypto-historical-data"),
    "LTC/USDT": ("Binance_LTCUSDT_1h.csv", "zuvelatamara/Data-Crypto2 (cut at 2021-06-10 00:00 UTC)"),
    "BNB/USDT": ("Binance_BNBUSDT_1h.csv", "andrewsiah/crypto-historical-data"),
    "ADA/USDT": ("Binance_ADAUSDT_1h.csv", "andrewsiah/crypto-historical-data"),
}
# The default split of the bundled data (inclusive bounds, UTC): BNB and ADA start after the training period.
DEFAULT_SPLIT = {
    "train": (None, "2020-06-30 23:00"),
    "val": ("2020-07-01 00:00", "2020-12-31 23:00"),
    "test": ("2021-01-01 00:00", "2021-06-10 23:00"),
}


def available_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts."""
    return sorted(p.name[: -len(".json")] for p in BUNDLED_DIR.glob("*.json")) if BUNDLED_DIR.exists() else []


def _read_clean(path: Path, symbol: str) -> pd.DataFrame:
    """A shipped file (already validated when it was built): the fast C reader, then the loader's flags."""
    with needs_extra("data"):
        import pandas as pd

    frame = pd.read_csv(path, compression="gzip", dtype="float64", index_col="timestamp")
    frame.index = pd.DatetimeIndex(
        pd.to_datetime(frame.index.to_numpy(dtype="int64"), unit="s", utc=True), name="timestamp"
    )
    suspicious, possibly_open = flag_candles(frame)
    frame["suspicious"] = suspicious
    frame["possibly_open"] = possibly_open
    frame.attrs.update(symbol=symbol, timeframe="1h", source=str(path))
    return frame


def load_dataset(
    name: str = "binance-1h",
    *,
    symbols: Sequence[str] | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
) -> MarketPanel:
    """Load a bundled dataset as a :class:`MarketPanel` (no network access).

    Args:
        name: the dataset (see :func:`available_datasets`). Default: ``"binance-1h"``.
        symbols: a subset of its assets, in this order (asset ids follow it). Default: all, in the order
            BTC, ETH, LTC, BNB, ADA.
        start: first bar kept (inclusive; an ISO UTC string or Unix seconds). Default: the first bar.
        end: last bar kept (inclusive; an ISO UTC string or Unix seconds). Default: the last bar.

    Returns:
        The panel; ``panel.reports`` holds the quality reports of the original exports.

    Raises:
        ValueError: unknown ``name`` (the message lists the available ones) or symbol.

    Examples:
        >>> panel = load_dataset("binance-1h")
        >>> panel.symbols, panel.timeframe
        (('BTC/USDT', 'ETH/USDT', 'LTC/USDT', 'BNB/USDT', 'ADA/USDT'), '1h')
    """
    manifest_path = BUNDLED_DIR / f"{name}.json"
    if not manifest_path.exists():
        raise ValueError(
            f"load_dataset: unknown dataset {name!r}; available: {', '.join(available_datasets()) or 'none'}"
        )
    manifest = json.loads(manifest_path.read_text())
    assets = manifest["assets"]
    wanted = [normalise_symbol(s) for s in symbols] if symbols is not None else list(assets)
    unknown = [s for s in wanted if s not in assets]
    if unknown:
        raise ValueError(f"load_dataset: symbols {unknown} not in {name!r}; available: {', '.join(assets)}")
    frames = {s: _read_clean(BUNDLED_DIR / assets[s]["file"], s) for s in wanted}
    panel = align(frames, timeframe=manifest["timeframe"], start=start, end=end)
    panel.reports.clear()
    panel.reports.update({s: QualityReport.from_dict(assets[s]["source_report"]) for s in wanted})
    return panel


def build_bundled_dataset(source_dir: str | Path, out_dir: str | Path, *, name: str = "binance-1h") -> Path:
    """Write the cleaned, compressed files and the manifest of a bundled dataset (run once, by maintainers).

    Args:
        source_dir: the folder holding the original exports (``Binance_BTCUSDT_1h.csv``, ...).
        out_dir: the ``bundled`` folder: ``<name>.json`` (the manifest) and ``<name>__<SYMBOL>.csv.gz`` go there.
        name: the dataset's name. Default: ``"binance-1h"``.

    Returns:
        The manifest's path.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    assets = {}
    for symbol, (file, origin) in _SOURCES.items():
        frame = load_ohlcv(Path(source_dir) / file)
        report = frame.attrs["quality_report"]
        clean = frame[["open", "high", "low", "close", "volume", "quote_volume", "trades"]].copy()
        clean.index = clean.index.as_unit("s").asi8  # Unix seconds
        clean.index.name = "timestamp"
        text = clean.to_csv(lineterminator="\n")  # floats written exactly (repr)
        out = folder / f"{name}__{symbol.replace('/', '')}.csv.gz"
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:  # reproducible bytes
            gz.write(text.encode())
        out.write_bytes(buf.getvalue())
        source_report = report.to_dict()
        source_report["path"] = file
        assets[symbol] = {
            "file": out.name,
            "source_file": file,
            "origin": origin,
            "source_report": source_report,
        }
    manifest = {
        "name": name,
        "timeframe": "1h",
        "description": "Hourly Binance spot OHLCV (USDT pairs) exported by CryptoDataDownload; cleaned by load_ohlcv",
        "assets": assets,
    }
    manifest_path = folder / f"{name}.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path
