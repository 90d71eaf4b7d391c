"""The spec's ``pytest tests/ --cov=src --cov-report=html`` measures the package (not an empty report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cov_src_measures_the_package(tmp_path: Path) -> None:
    html, js = tmp_path / "htmlcov", tmp_path / "cov.json"
    cmd = [
        sys.executable, "-m", "pytest", "tests/test_package.py", "-q", "-p", "no:cacheprovider",
        "--cov=src", f"--cov-report=html:{html}", f"--cov-report=json:{js}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (html / "index.html").exists()
    files = json.loads(js.read_text())["files"]
    ours = {f: d for f, d in files.items() if "ml_attention_mechanisms" in f}
    assert any(f.endswith("multi_head_attention.py") for f in ours), sorted(files)[:10]
    assert sum(d["summary"]["covered_lines"] for d in ours.values()) > 100
