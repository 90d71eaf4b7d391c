"""The run record: a run directory's layout, versions, git commit and data hashes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "RECORD_FILE",
    "file_sha256",
    "git_commit",
    "interval_fields",
    "is_global_zero_process",
    "read_record",
    "write_record",
]

CONFIG_FILE = "config.yaml"  # the resolved RunConfig
RECORD_FILE = "run.json"  # model, data, versions, git commit, data hashes, status
CHECKPOINT_DIR = "checkpoints"  # best.ckpt, last.ckpt


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(directory: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``directory`` (the library's source by
    default), or ``None`` when it is not in a git checkout or git is unavailable."""
    where = Path(directory) if directory is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(dirty)} if sha else None


def is_global_zero_process() -> bool:
    """True unless this process is a non-zero rank of a distributed launch (torchrun, SLURM, Lightning)."""
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "0") not in ("", "0"):
            return False
    return os.environ.get("LOCAL_RANK", "0") in ("", "0") and os.environ.get("NODE_RANK", "0") in ("", "0")


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (temp file + rename)."""
    tmp = run_dir / f".{RECORD_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str), encoding="utf-8")
    os.replace(tmp, run_dir / RECORD_FILE)


def read_record(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json`` of a run directory.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run directory (named).
        ValueError: the record is not valid JSON (named).
    """
    path = run_dir / RECORD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: not a run directory (no {RECORD_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def new_record(*, model: str, data: list[str], data_files: dict[str, str]) -> dict[str, Any]:
    """The record written when a run starts."""
    from .checkpoint import library_versions

    return {
        "model": model,
        "data": data,
        "data_files_sha256": data_files,
        "versions": library_versions(),
        "git": git_commit(),
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
    }


def interval_fields(bar_seconds: int | None) -> dict[str, Any]:
    """``{"bar_seconds": 86400, "timeframe": "1d"}``: the bar interval of a run's data for ``run.json``
    (both ``None`` when unknown, e.g. in-memory data without timestamps)."""
    if not bar_seconds:
        return {"bar_seconds": None, "timeframe": None}
    from ..data.validation import timeframe_name

    return {"bar_seconds": int(bar_seconds), "timeframe": timeframe_name(int(bar_seconds))}
