"""One writer per run directory: the lock, the refusal to replace a run, the clean-up of a killed write.

- **The lock** (``RUN_DIR/run.lock``): a training holds an exclusive ``flock`` on it for as long as it runs
  and writes its pid, host and start time into it. A second training on the same directory (a new run or a
  ``--resume``) is refused with one line naming the holder. The operating system releases the lock when
  its process dies, however it dies (``kill -9`` included), so the lock of a dead process is taken over by
  the next training; the file itself stays (empty when no one holds it).
- **An existing run** (a ``run.json`` in the directory) is not replaced unless ``overwrite`` is given; then
  the run's own entries (``config.yaml``, ``run.json``, ``checkpoints/``, ``logs/``, ``tensorboard/``) are
  removed first. A directory that holds other files and is not a run is refused either way.
- **Temporary files** of a write killed half-way (``.last.ckpt.*.tmp``, ``.run.json.*.tmp``: see
  ``checkpoint.atomic_save``) are removed when the next training of the directory starts, under the lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from . import _record

__all__ = [
    "LOCK_FILE",
    "RUN_ENTRIES",
    "RunDirectoryBusy",
    "RunLock",
    "check_run_dir",
    "claim_run_dir",
    "remove_temporaries",
]

logger = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
RUN_ENTRIES = (_record.CONFIG_FILE, _record.RECORD_FILE, _record.CHECKPOINT_DIR, "logs", "tensorboard")


class RunDirectoryBusy(ValueError):
    """Another live process holds the run directory's lock."""


def _describe(holder: dict[str, Any]) -> str:
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts.append(f"on {holder['host']}")
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    return " ".join(parts)


def _holder(fd: int) -> dict[str, Any]:
    """What the lock file says of its holder (pid, host, start time, command)."""
    raw = os.pread(fd, 65536, 0).decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}
    return {"pid": raw[:40]}


def _lock(fd: int, run_dir: Path) -> None:
    """Take the exclusive lock of ``fd`` without waiting.

    Raises:
        RunDirectoryBusy: another live process holds it (named from the file).
        OSError: the filesystem cannot lock (named).
    """
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise OSError(f"{run_dir / LOCK_FILE}: cannot lock the run directory ({exc.strerror})") from exc
        raise RunDirectoryBusy(
            f"{run_dir}: in use by another run ({_describe(_holder(fd))}); wait for it to finish, or choose "
            "another --out"
        ) from None


class RunLock:
    """The exclusive lock of one run directory (see the module docstring).

    Args:
        run_dir: the run directory (created if needed).

    Raises:
        RunDirectoryBusy: another live process holds it (its pid, host and start time are named).
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd, run_dir)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        previous = _holder(fd)
        if previous.get("pid"):
            logger.warning("%s: taking over the lock of %s (no longer running)", run_dir, _describe(previous))
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)

    def release(self) -> None:
        """Empty the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed write left in ``run_dir`` and its ``checkpoints/``.

    Only call it while holding the directory's :class:`RunLock` (no write of another process is then in
    flight). Returns the files removed.
    """
    removed: list[Path] = []
    for folder in (run_dir, run_dir / _record.CHECKPOINT_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    if removed:
        logger.warning(
            "%s: removed %d temporary file(s) of a write that was killed: %s",
            run_dir,
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed


def _run_status(run_dir: Path) -> str:
    if not (run_dir / _record.RECORD_FILE).is_file():
        return f"no {_record.RECORD_FILE} yet"
    with contextlib.suppress(OSError, ValueError):
        record = _record.read_record(run_dir)
        return f"model {record.get('model', '?')}, status {record.get('status', '?')}"
    return f"unreadable {_record.RECORD_FILE}"


def _check_free(run_dir: Path) -> None:
    path = run_dir / LOCK_FILE
    if not path.is_file():
        return
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        _lock(fd, run_dir)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """What :func:`claim_run_dir` would refuse, checked early and without creating or changing anything.

    Raises:
        RunDirectoryBusy: another live training holds the directory.
        ValueError: as :func:`claim_run_dir`.
    """
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise ValueError(f"--out {run_dir}: is a file; expected a run directory")
    _check_free(run_dir)
    if not resume:
        _make_room(run_dir, overwrite=overwrite, remove=False)


def claim_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> RunLock:
    """Lock ``run_dir`` for one training and make it ready: refuse to replace a run unless ``overwrite``,
    remove the temporary files of a killed write.

    Args:
        run_dir: the run directory (created if needed).
        resume: the training continues the run in ``run_dir``.
        overwrite: a new run may replace the run in ``run_dir`` (its entries are removed).

    Returns:
        The held :class:`RunLock` (release it when the training ends).

    Raises:
        RunDirectoryBusy: another live training holds the directory.
        ValueError: ``run_dir`` holds a run and neither ``resume`` nor ``overwrite`` is given; it holds other
            files and is not a run directory; it is a file.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir}: is a file; expected a run directory")
    lock = RunLock(run_dir)
    try:
        if not resume:
            _make_room(run_dir, overwrite=overwrite)
        remove_temporaries(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def _make_room(run_dir: Path, *, overwrite: bool, remove: bool = True) -> None:
    entries = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    if not entries:
        return
    foreign = [p.name for p in entries if p.name not in RUN_ENTRIES and not p.name.endswith(".tmp")]
    if foreign:
        raise ValueError(
            f"--out {run_dir}: not empty and not a run directory (holds {foreign[0]}"
            + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else "")
            + "); choose a new or empty directory"
        )
    if not overwrite:
        raise ValueError(
            f"--out {run_dir}: already holds a run ({_run_status(run_dir)}); pass --overwrite to replace it, "
            f"--resume {run_dir} to continue it, or choose another --out"
        )
    if not remove:
        return
    for path in entries:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    logger.warning("%s: --overwrite: the previous run's files were removed", run_dir)
