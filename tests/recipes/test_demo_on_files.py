"""``run_demo`` on a user's OHLCV files (``DemoConfig.data``, ``mlattn demo --data``): the bundled bars
exported as files give the bundled demo's figures exactly; the files' assets are scored in the order given,
each as seen or unseen; without split dates the first 70% of the bars train and the next 15% validate; the
flags that read files are refused without them, in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.data import load_dataset, split_by_share
from ml_attention_mechanisms.recipes import DemoConfig, run_demo
from ml_attention_mechanisms.recipes._data import HORIZON
from ml_attention_mechanisms.recipes._files import load_demo_data


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], DemoConfig]:
    """The quick demo's bars of the bundled data, written as a user's exports (one CSV per asset)."""
    cfg = DemoConfig.quick()
    panel = load_dataset(cfg.dataset).between(cfg.start, cfg.end)
    root = tmp_path_factory.mktemp("files")
    files = []
    for symbol in panel.symbols:
        path = root / f"{symbol.replace('/', '')}_1h.csv"
        panel.to_frame(symbol).to_csv(path)
        files.append(path)
    return files, cfg


def _json(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, default=str)  # NaN compares equal as text


def test_the_bundled_bars_as_files_give_the_bundled_demo(
    exported: tuple[list[Path], DemoConfig], tmp_path: Path
) -> None:
    files, cfg = exported
    bundled = run_demo(cfg, tmp_path / "bundled", progress=False).metrics
    own = run_demo(
        dataclasses.replace(cfg, data=tuple(str(f) for f in files)), tmp_path / "own", progress=False
    )
    assert own.metrics["data"]["periods"] == bundled["data"]["periods"]
    assert _json(own.metrics["assets"]) == _json(bundled["assets"])
    assert _json(own.metrics["bar"]) == _json(bundled["bar"])
    stored = json.loads((tmp_path / "own" / "demo_config.json").read_text(encoding="utf-8"))
    assert stored["data"] == [str(f) for f in files] and stored["assets"] == list(cfg.assets)


def test_files_split_by_share_without_dates(exported: tuple[list[Path], DemoConfig]) -> None:
    files, _ = exported
    data = load_demo_data(files=files[:2])
    ts = data.prepared.timestamps
    expected = split_by_share(ts, horizon=HORIZON)
    assert np.array_equal(data.split.train, expected.train) and np.array_equal(data.split.test, expected.test)
    assert abs(data.split.train_end / ts.size - 0.70) < 0.01  # the training period: 70% of the bars
    assert abs(data.val_start / ts.size - 0.70) < 0.01 and abs(data.test_start / ts.size - 0.85) < 0.01
    assert list(data.sources.values()) == [str(f) for f in files[:2]]  # where each asset came from


def test_cli_scores_every_asset_of_the_files_in_their_order(
    exported: tuple[list[Path], DemoConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = exported
    coin = tmp_path / "XYZUSDT_1h.csv"  # a coin no checkpoint knows, listed with BTC
    coin.write_text(files[3].read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run"
    start = "2020-08-15"  # the files' first half month left out
    rc = main(
        [
            "demo",
            "--quick",
            "--data",
            str(coin),
            str(files[0]),
            "--start",
            start,
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics["assets"]) == ["XYZ", "BTC"]
    assert set(metrics["data"]["seen"]) == {"XYZ", "BTC"}
    stored = json.loads((out / "demo_config.json").read_text(encoding="utf-8"))
    assert stored["assets"] == ["XYZ", "BTC"] and stored["train_end"] is None and stored["start"] == start
    assert metrics["data"]["periods"]["train"][0] == f"{start} 00:00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timezone", "UTC+8"], "--timezone: with --data only"),
        (["--start", "2020-09-01"], "--start: with --data only"),
        (["--missing-hours", "absent"], "--missing-hours: with --data only"),
        (
            ["--train-end", "2020-10-01", "--val-end", "2020-11-01"],
            "--train-end, --val-end: with --data only",
        ),
        (["--data", "BTCUSDT_1h.csv", "--train-end", "2020-10-01"], "give both or neither"),
        (["--data", "nope_BTCUSDT_1h.csv"], "--data: file not found: nope_BTCUSDT_1h.csv"),
    ],
)
def test_cli_refusals_are_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if "BTCUSDT_1h.csv" in argv:
        (tmp_path / "BTCUSDT_1h.csv").write_text("timestamp,open,high,low,close,volume\n", encoding="utf-8")
    rc = main(["demo", "--quick", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_an_asset_no_file_holds_is_named_before_training(
    exported: tuple[list[Path], DemoConfig], tmp_path: Path
) -> None:
    files, cfg = exported
    own = dataclasses.replace(cfg, data=(str(files[0]),), assets=("ETH",))
    with pytest.raises(ValueError, match="asset 'ETH': not in the data; available: BTC"):
        run_demo(own, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "models").exists()  # refused before any training
