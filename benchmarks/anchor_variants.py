"""Variants of the variance anchor, scored on the bundled data's validation period (forecast quality, not speed).

The anchor (:class:`ml_attention_mechanisms.data.anchor.VarianceAnchor`) is a pooled log-HAR forecast of the
next 24 bars' variance per bar, built from Parkinson range variances. This script fits it, and variants of
it, on the bundled hourly training period (pooled over BTC, ETH, LTC, BNB and ADA, as the demo fits it) and
prints each one's 24-bar QLIKE per asset on the validation period, the period every choice of the demo is
made on. Variants:

- ``+ squared returns``: log terms of the mean squared 1-bar return over 1, 6 and 24 bars (close-to-close
  information beside the ranges);
- ``+ negative semivariance``: log terms of twice the mean squared negative return over 1 day and 1 week
  (the leverage effect of Patton and Sheppard 2015);
- ``+ sqrt range``: the square root of the 1-, 6- and 24-bar range variance relative to its 30-day level
  (a term that reacts linearly, not logarithmically, to a burst);
- ``+ rise above the level``: the day's log term again where it is positive, ``max(x_day, 0)`` (a burst
  under way weighs more than a calm day as far below the level);
- ``per-coin level``: the anchor times the mean of ``target / anchor`` over the coin's last 2160 resolved
  bars;
- ``per-coin refit``: the coefficients refitted weekly on the coin's last 2160 resolved bars, by QLIKE with a
  ridge penalty ``lambda * |c - c_pooled|^2`` towards the pooled fit.

Each design variant is also fitted leaving each asset out and scored on that asset (``loao``). With
``--file PATH`` the variants fitted on the bundled data are scored on another export from ``--start`` on, for
information (nothing is chosen on it). GARCH(1,1) (``arch``, refitted weekly) is printed beside them (n/a for a
coin with less than 90 days of bars before the period: BNB and ADA are listed in the bundled data after the
training period ends, so they have no training rows, and leaving them out changes no fit).

    python benchmarks/anchor_variants.py                        # validation table (~1 min on 2 vCPUs)
    python benchmarks/anchor_variants.py --file DOGEUSDT_1h.csv --start 2022-03-26
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ml_attention_mechanisms.data import default_split, load_dataset, load_ohlcv
from ml_attention_mechanisms.data.anchor import VarianceAnchor, _trailing, parkinson_variance
from ml_attention_mechanisms.data.targets import forward_volatility

HORIZON = 24
WINDOW = 2160  # resolved bars the per-coin variants look back over (90 days)
FLOOR, CLIP = math.log(0.2), math.log(1e3)  # the anchor's own clip of a window's log ratio


def trailing_mean(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and count of the finite values of ``x [T, ...]`` over each row's last ``window`` rows (the anchor's
    own trailing sums)."""
    total, count = _trailing(x, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / np.maximum(count, 1), count


def log_terms(x: np.ndarray, windows: tuple[int, ...], log_level: np.ndarray) -> list[np.ndarray]:
    """``ln(mean_w(x) / level)`` clipped as the anchor clips its own terms; 0 with fewer than ``w/2`` bars."""
    out = []
    for w in windows:
        m, n = trailing_mean(x, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.log(np.maximum(m, 1e-300)) - log_level
        out.append(np.where((n >= max(1, w // 2)) & np.isfinite(rel), np.clip(rel, FLOOR, CLIP), 0.0))
    return out


def sqrt_terms(p: np.ndarray, windows: tuple[int, ...]) -> list[np.ndarray]:
    """``sqrt(mean_w(p) / level_720(p)) - 1``, capped at 30."""
    level, _ = trailing_mean(p, 720)
    out = []
    for w in windows:
        m, n = trailing_mean(p, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.minimum(np.sqrt(m / level), 30.0) - 1.0
        out.append(np.where((n >= max(1, w // 2)) & np.isfinite(rel), rel, 0.0))
    return out


class Bars:
    """One panel's per-bar inputs: Parkinson variance, 1-bar log return, and the 24-bar target ``[T, A]``."""

    def __init__(self, high: np.ndarray, low: np.ndarray, close: np.ndarray, mask: np.ndarray | None = None):
        with np.errstate(divide="ignore", invalid="ignore"):
            self.p = parkinson_variance(np.log(high / low))
            self.r = np.diff(np.log(close), axis=0, prepend=np.nan)
        if mask is not None:
            self.p = np.where(mask, self.p, np.nan)
        self.r2 = np.square(self.r)
        self.y = forward_volatility(close, (HORIZON,))[..., 0] ** 2 / HORIZON

    def design(self, anchor: VarianceAnchor, variant: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x [T, A, K], offset [T, A])`` of a design variant: the anchor's own terms plus the variant's."""
        x, offset = anchor.design(self.p, self.r2)  # offset: ln of the level in squared-return units
        extra: list[np.ndarray] = []
        if variant == "+ squared returns":
            extra = log_terms(self.r2, (1, 6, HORIZON), offset)
        elif variant == "+ negative semivariance":
            down = np.where(self.r < 0, 2.0 * self.r2, np.where(np.isfinite(self.r), 0.0, np.nan))
            extra = log_terms(down, (HORIZON, 7 * HORIZON), offset)
        elif variant == "+ sqrt range":
            extra = sqrt_terms(self.p, (1, 6, HORIZON))
        elif variant == "+ rise above the level":  # the day's term again where positive: max(x_day, 0)
            extra = [np.maximum(x[..., anchor.windows.index(HORIZON)], 0.0)]
        columns = [x] + [e[..., None] for e in extra]
        return np.concatenate(columns, axis=-1), offset


def fit_qlike(
    x: np.ndarray, offset: np.ndarray, y: np.ndarray, rows: np.ndarray, *, prior: np.ndarray | None = None,
    ridge: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """Coefficients minimising the mean QLIKE of ``exp(offset + c_0 + x @ c)`` on ``rows`` (Newton, as
    ``VarianceAnchor.fit``), plus ``ridge * |c - prior|^2`` when a prior is given."""
    use = rows & np.isfinite(offset) & np.isfinite(y) & (y > 0)
    n = int(use.sum())
    z = np.concatenate([np.ones((n, 1)), x[use]], axis=1)
    off, yy = offset[use], y[use]
    if prior is None:
        coef, *_ = np.linalg.lstsq(z, np.log(yy) - off, rcond=None)
        coef[0] += math.log(float(np.mean(yy * np.exp(-(z @ coef + off)))))
        prior = coef.copy()
    else:
        coef = prior.copy()
    for _ in range(100):
        e = yy * np.exp(-(z @ coef + off))
        grad = z.T @ (1.0 - e) / n + ridge * (coef - prior)
        hess = (z * e[:, None]).T @ z / n + (ridge + 1e-9) * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        coef -= step
        if float(np.abs(step).max()) < 1e-12:
            break
    return coef


def predict(x: np.ndarray, offset: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return np.exp(offset + coef[0] + x @ coef[1:])


def qlike(f: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(f) & np.isfinite(y) & (y > 0) & (f > 0)
    ratio = y[ok] / f[ok]
    return float(np.mean(ratio - np.log(ratio) - 1.0))


def per_coin_level(f: np.ndarray, y: np.ndarray, start: int) -> np.ndarray:
    """``f`` times the mean of ``y / f`` over the last ``WINDOW`` targets resolved at each bar from ``start``."""
    out = f.copy()
    ratio = y / f
    for t in range(start, f.shape[0]):
        hi = t - HORIZON + 1  # targets of rows < hi ended at or before bar t
        past = ratio[max(0, hi - WINDOW) : max(0, hi)]
        past = past[np.isfinite(past)]
        if past.size >= 168:
            out[t] = f[t] * float(np.mean(past))
    return out


def per_coin_refit(
    x: np.ndarray, offset: np.ndarray, y: np.ndarray, pooled: np.ndarray, start: int, ridge: float
) -> np.ndarray:
    """The design refitted weekly from ``start`` on one coin's last ``WINDOW`` resolved rows, ridge to pooled."""
    out = predict(x, offset, pooled)
    for s in range(start, x.shape[0], 168):
        rows = np.zeros(x.shape[0], dtype=bool)
        rows[max(0, s - WINDOW) : max(0, s - HORIZON + 1)] = True
        if (rows & np.isfinite(offset) & np.isfinite(y)).sum() < 168:
            continue
        coef = fit_qlike(x, offset, y, rows, prior=pooled, ridge=ridge)
        out[s : s + 168] = predict(x[s : s + 168], offset[s : s + 168], coef)
    return out


def garch_per_bar(r: np.ndarray, start: int) -> np.ndarray:
    from ml_attention_mechanisms.evaluation.baselines.volatility import garch_forecast

    return garch_forecast(np.nan_to_num(r), horizon=HORIZON, start=start).variance / HORIZON


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="another hourly export, scored for information")
    parser.add_argument("--start", help="first bar of --file scored (default: 90 days in)")
    parser.add_argument("--quick", action="store_true", help="the design variants only, no GARCH or refits")
    parser.add_argument("--no-garch", action="store_true", help="leave GARCH out")
    args = parser.parse_args(argv)

    panel = load_dataset("binance-1h")
    split = default_split(panel.timestamps, horizon=HORIZON)
    bars = Bars(panel.field("high"), panel.field("low"), panel.close, panel.mask)
    names = [s.split("/")[0] for s in panel.symbols]
    anchor = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    rows = np.asarray(panel.mask, dtype=bool).copy()
    rows[split.train_end + 1 - HORIZON :] = False  # targets that end inside the training period
    val = slice(int(split.val[0]), int(split.val[-1]) + 1)
    library = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    library.fit(bars.p, bars.r2, bars.y, rows)

    other = None
    if args.file:
        frame = load_ohlcv(args.file)
        other = Bars(*(frame[k].to_numpy(float)[:, None] for k in ("high", "low", "close")))
        import pandas as pd

        first = (
            90 * 24
            if args.start is None
            else int(frame.index.searchsorted(pd.Timestamp(args.start, tz="UTC")))
        )
        scored = slice(first, len(frame) - HORIZON)

    def row(
        label: str, per_asset: list[float], loao: list[float] | None = None, extra: float | None = None
    ) -> None:
        cells = " / ".join("n/a" if math.isnan(v) else f"{v:.4f}" for v in per_asset)
        line = f"{label:<26} {cells}"
        if loao is not None:
            line += "   loao " + " / ".join(f"{v:.4f}" for v in loao)
        if extra is not None:
            line += f"   {args.file}: {extra:.4f}"
        print(line, flush=True)

    days = np.datetime_as_string(
        panel.timestamps[[val.start, val.stop - 1]].astype("datetime64[s]"), unit="m"
    )
    print(f"24-bar QLIKE on the validation period {days[0]} .. {days[1]}")
    print(f"{'variant':<26} {' / '.join(names)}")
    pooled: dict[str, np.ndarray] = {}
    variants = ("the anchor as it is", "+ squared returns", "+ negative semivariance", "+ sqrt range",
                "+ rise above the level")  # fmt: skip
    for variant in variants:
        x, offset = bars.design(anchor, variant)
        coef = fit_qlike(x, offset, bars.y, rows)
        pooled[variant] = coef
        if variant == "the anchor as it is":  # the script's fit is the library's
            assert np.allclose(coef, library.coef, rtol=1e-6, atol=1e-8), (coef, library.coef)
        f = predict(x, offset, coef)
        loao = []
        for j in range(len(names)):
            held_out = rows.copy()
            held_out[:, j] = False
            loao.append(
                qlike(predict(x, offset, fit_qlike(x, offset, bars.y, held_out))[val, j], bars.y[val, j])
            )
        score = None
        if other is not None:
            xo, oo = other.design(anchor, variant)
            score = qlike(predict(xo, oo, coef)[scored, 0], other.y[scored, 0])
        row(variant, [qlike(f[val, j], bars.y[val, j]) for j in range(len(names))], loao, score)
    if args.quick:
        return 0
    x, offset = bars.design(anchor, "the anchor as it is")
    base = pooled["the anchor as it is"]
    f = predict(x, offset, base)
    level = [
        qlike(per_coin_level(f[:, j], bars.y[:, j], val.start)[val], bars.y[val, j])
        for j in range(len(names))
    ]
    score = None
    if other is not None:
        xo, oo = other.design(anchor, "the anchor as it is")
        fo = predict(xo, oo, base)[:, 0]
        score = qlike(per_coin_level(fo, other.y[:, 0], scored.start)[scored], other.y[scored, 0])
    row("per-coin level", level, None, score)
    for ridge in (0.1, 1.0):
        refits = [
            per_coin_refit(x[:, j], offset[:, j], bars.y[:, j], base, val.start, ridge)
            for j in range(len(names))
        ]
        score = None
        if other is not None:
            fo = per_coin_refit(xo[:, 0], oo[:, 0], other.y[:, 0], base, scored.start, ridge)
            score = qlike(fo[scored], other.y[scored, 0])
        row(f"per-coin refit, ridge {ridge:g}", [qlike(refits[j][val], bars.y[val, j]) for j in range(len(names))],
            None, score)  # fmt: skip
    if not args.no_garch:
        history = np.isfinite(bars.r[: val.start]).sum(axis=0)  # GARCH's fit needs 90 days before the period
        garch = [
            qlike(garch_per_bar(bars.r[:, j], val.start)[val], bars.y[val, j])
            if history[j] >= WINDOW
            else math.nan
            for j in range(len(names))
        ]
        score = None
        if other is not None:
            score = qlike(garch_per_bar(other.r[:, 0], scored.start)[scored], other.y[scored, 0])
        row("GARCH(1,1), weekly refits", garch, None, score)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
