"""The HTML report: self-contained, every figure also a PNG, and every plot renders in headless Chromium
without console errors."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.evaluation import (
    ReportFigure,
    attention_heatmap_figure,
    calibration_figure,
    equity_curves_figure,
    evaluate_bar,
    fan_chart_figure,
    pit_histogram_figure,
    run_backtest,
    training_curves_figure,
    var_exceedance_figure,
    weights_figure,
    write_report,
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",
]

# Injected first in <head> of a copy of the page: records errors, then counts plotly divs with an SVG.
CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
var __ce = console.error;
console.error = function () { window.__errors.push(Array.from(arguments).join(' ')); __ce.apply(console, arguments); };
window.addEventListener('load', function () { setTimeout(function () {
  var divs = document.querySelectorAll('.plotly-graph-div'), ok = 0;
  divs.forEach(function (d) { if (d.querySelector('svg.main-svg')) ok++; });
  var s = document.createElement('div'); s.id = 'render-check';
  s.setAttribute('data-plots', divs.length); s.setAttribute('data-rendered', ok);
  s.setAttribute('data-errors', JSON.stringify(window.__errors)); document.body.appendChild(s);
}, 1000); });
</script>"""


def _figures() -> list[ReportFigure]:
    rng = np.random.default_rng(0)
    n = 400
    idx = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    r = rng.normal(0, 0.01, n)
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    z = np.array([-1.645, -0.674, 0.0, 0.674, 1.645])
    q = 0.01 * z[None, :].repeat(n, axis=0)
    weights = pd.DataFrame(rng.dirichlet(np.ones(3), n), index=idx, columns=["BTC", "ETH", "LTC"])
    weights.iloc[1::2] = np.nan  # no decision on odd bars
    return [
        equity_curves_figure(
            {"model": run_backtest(np.sign(r), r).equity, "buy_and_hold": run_backtest(np.ones(n), r).equity},
            index=idx,
        ),
        fan_chart_figure(r, q, levels, index=idx),
        calibration_figure(levels, {"model": [0.06, 0.24, 0.52, 0.77, 0.93]}),
        var_exceedance_figure(r, {"95%": np.full(n, 0.0165), "99%": np.full(n, 0.0233)}, index=idx),
        weights_figure(weights),
        attention_heatmap_figure(rng.dirichlet(np.ones(16), 16), name="attention_window_1"),
        attention_heatmap_figure(rng.dirichlet(np.ones(16), 16), name="attention_window_2"),
        training_curves_figure({"train": [1.0, 0.7, 0.6], "validation": [1.1, 0.8, 0.75]}),
        pit_histogram_figure(
            {
                "model": [0.12, 0.1, 0.09, 0.1, 0.09, 0.1, 0.1, 0.1, 0.1, 0.1],
                "baseline": [0.2] + [0.1] * 8 + [0.0],
            }
        ),
    ]


def _bar() -> dict:
    asset = {
        "volatility": {"model": {"qlike": 0.9}, "har_rv": {"qlike": 1.0}, "garch": {"qlike": 1.1}},
        "interval90": {"model": {"coverage": 0.87, "width": 1.0}, "empirical_quantile": {"width": 1.2}},
        "var95": {"kupiec_p": 0.5, "christoffersen_p": 0.5},
        "var99": {"kupiec_p": 0.01, "christoffersen_p": 0.5},
    }
    return evaluate_bar({"assets": {"BTC": asset, "ETH": asset, "LTC": asset}})


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    metrics = {"bar": _bar(), "models": {"price": {"mae": 0.01, "rmse": float("nan")}}}
    tables = {
        "Models vs baselines": [
            {"name": "price", "mae": 0.01, "dm_p_vs_zero": 0.03},
            {"name": "zero", "mae": 0.011},
        ],
        "Walk-forward folds": [{"fold": 0, "mae": 0.01}, {"fold": 1, "mae": 0.012}],
    }
    return write_report(
        metrics, _figures(), out / "report.html", tables=tables, notes=["Planted figures <test>."]
    )


def test_report_is_self_contained_with_pngs(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script src" not in page.replace(" ", "") and "<link" not in page
    assert re.search(r"<script[^>]*src=", page) is None
    assert page.count("Plotly.newPlot(") == 9
    assert "Planted figures &lt;test&gt;." in page  # notes are escaped
    assert page.index("id='summary'") < page.index("Planted figures") < page.index("Models vs baselines")
    # 3 assets x (interval at 87%, VaR99 Kupiec at 0.01) and both strategy kinds missing: 8 of 14 fail
    assert page.count("class='fail'") == 8 and page.count("class='pass'") == 6
    for name in (
        "equity_curves",
        "fan_chart",
        "calibration",
        "var_exceedances",
        "portfolio_weights",
        "attention_window_1",
        "attention_window_2",
        "training_curves",
        "pit_histogram",
    ):
        png = report.parent / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_duplicate_figure_names_are_refused(tmp_path: Path) -> None:
    figs = _figures()
    with pytest.raises(ValueError, match=r"duplicate names \['pit_histogram'\]"):
        write_report({}, [figs[-1], figs[-1]], tmp_path / "r.html")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed for the report test: apt-get install -y chromium")


def test_every_plot_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8").replace("<head>", "<head>" + CHECK_SCRIPT, 1)
    checked = tmp_path / "checked.html"
    checked.write_text(page, encoding="utf-8")
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=180)
    match = re.search(
        r'id="render-check" data-plots="(\d+)" data-rendered="(\d+)" data-errors="([^"]*)"', dom.stdout
    )
    assert match, f"render check missing; stderr tail: {dom.stderr[-2000:]}"
    assert int(match.group(1)) == 9 and int(match.group(2)) == 9
    assert json.loads(html.unescape(match.group(3))) == []
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console

    shot = report.parent / "report_screenshot.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,2600", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 2600 and pixels[..., :3].std() > 0.05  # not a blank page
