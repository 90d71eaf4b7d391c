"""``mlattn data-check``: a report per file, exit 0; an invalid file: one stderr line, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _market_files import btc_january_2020, write_bars
from ml_attention_mechanisms.cli.main import main

GOOD = """unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1623283200000,2021-06-10 00:00:00,BTC/USDT,10,12,9,11,5,55,3
1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50,3
"""
BAD = GOOD.replace("10,12,9,10,5,50,3", "10,8,9,10,5,50,3")  # high < low on line 3


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_files_print_reports_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _write(tmp_path, "a.csv", GOOD), _write(tmp_path, "b.csv", GOOD)
    assert main(["data-check", str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.count("rows read / kept  2 / 2") == 2 and "BTC/USDT" in out.out


def test_invalid_file_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = _write(tmp_path, "good.csv", GOOD), _write(tmp_path, "bad.csv", BAD)
    assert main(["data-check", str(bad), str(good)]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"mlattn data-check: invalid: {bad}, line 3, column 'high'"
    )
    assert "expected high >= low" in lines[0]
    assert "rows read / kept  2 / 2" in out.out  # the good file is still checked


def test_drop_json_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "bad.csv", BAD)
    assert main(["data-check", "--drop", "--json", str(bad)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_kept"] == 1 and report["dropped"][0].startswith("line 3, column 'high'")
    assert main(["data-check", str(tmp_path / "nope.csv")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"mlattn data-check: error: {tmp_path / 'nope.csv'}: no such file"
    )


def test_real_process_has_no_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.csv", BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "ml_attention_mechanisms.cli.main", "data-check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 1 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    )


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return btc_january_2020()


def test_data_check_directory_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = _run(["data-check", str(tmp_path)], capsys)
    assert rc == 2 and out == ""
    assert err == f"mlattn data-check: error: {tmp_path}: is a directory; expected a CSV or Parquet file\n"


def test_data_check_iso_file_and_offset_grid(
    tmp_path: Path, btc: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    iso = write_bars(tmp_path / "BTCUSDT_1h.csv", btc.iloc[:48])
    half = write_bars(tmp_path / "ETHUSDT_1h.csv", btc.iloc[:48], shift=pd.Timedelta(minutes=30))
    rc, out, err = _run(["data-check", str(iso), str(half)], capsys)
    assert rc == 0 and err == ""
    assert "damaged or missing unix" not in out and out.count("time from         column 'timestamp'") == 2
    assert out.count("grid offset") == 1 and "grid offset       30min" in out and "off-grid" not in out


def test_missing_hours_says_how_a_files_holes_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file with hours left out, without zero-volume candles: by default its short holes are written as
    hours without trades and the report says so; ``--missing-hours absent`` leaves them out."""
    lines = GOOD.splitlines()
    row = lines[2].split(",")  # 2021-06-09 23:00
    older = [
        ",".join([str(int(row[0]) - 3_600_000 * k), f"2021-06-09 {23 - k:02d}:00:00", *row[2:]])
        for k in (3, 4)
    ]  # 2021-06-09 20:00 and 19:00: 21:00 and 22:00 missing
    path = _write(tmp_path, "BTCUSDT_1h.csv", "\n".join([*lines, *older]) + "\n")
    assert main(["data-check", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["missing_hours"] == "no-trades"
        and report["no_trade_bars"] == 2
        and report["missing_bars"] == 2
    )
    assert main(["data-check", str(path)]) == 0
    assert "no-trade bars     2 written: holes shorter than a day read as intervals without trades" in (
        capsys.readouterr().out
    )
    assert main(["data-check", "--json", "--missing-hours", "absent", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["missing_hours"] == "absent" and report["no_trade_bars"] == 0 and report["rows_kept"] == 4


def test_timezone_reads_times_without_a_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--timezone``: the report's span is the clock times converted to UTC and it names the zone."""
    path = _write(tmp_path, "BTCUSDT_1h.csv", "date,open,high,low,close,volume\n"
                  "2021-06-10 08:00:00,10,12,9,11,5\n2021-06-10 09:00:00,11,12,9,10,5\n")  # fmt: skip
    assert main(["data-check", "--timezone", "Asia/Shanghai", str(path)]) == 0
    out = capsys.readouterr().out
    assert "span              2021-06-10 00:00 .. 2021-06-10 01:00" in out
    assert "time zone         Asia/Shanghai (times without a zone; converted to UTC)" in out
