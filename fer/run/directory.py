"""One live process per run directory, and what a re-run sweep does with a job it finds done.

`hold(run_dir)` takes an exclusive lock (`RUN_DIR/.lock`, released when the process ends, even
if it is killed), so a second process resuming or reusing a run that is still running is refused
with a clear message instead of both writing the same files. `previous_attempt(run_dir,
overrides)` tells a re-run sweep job whether to skip (completed with the same overrides), resume
(interrupted, with a last.ckpt) or start over (failed, unfinished without a checkpoint, or other
overrides).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


class RunDirBusy(Exception):
    """Another live process holds the run directory."""


@contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """Hold `run_dir` for this process; RunDirBusy if another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RunDirBusy(
            f"{run_dir} is in use by a running process (pid {holder}); wait for it to end, "
            "stop it, or train into another directory"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def job_identity(overrides: Iterable[str], ignored: Collection[str] = ()) -> list[str]:
    """The overrides that tell a job apart: all but those whose key is in `ignored` (Hydra's
    `override_dirname.exclude_keys`, e.g. the data path or the logger of a study)."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in ignored]


def previous_attempt(
    run_dir: str | Path, overrides: list[str], ignored: Collection[str] = ()
) -> str:
    """What an earlier attempt at this job left: 'completed', 'resumable' or 'none'.

    'completed': metrics.json says completed, for the same overrides (those with a key in
    `ignored` aside: they do not change the job, e.g. another data path or logger). 'resumable':
    an interrupted or unfinished run with checkpoints/last.ckpt. 'none': anything else (no
    attempt, a failure, or other overrides): the job starts over."""
    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "none"
    if job_identity(record.get("overrides") or [], ignored) != job_identity(overrides, ignored):
        return "none"
    status = record.get("status")
    if status == "completed":
        return "completed"
    if status in ("interrupted", "running") and (run_dir / "checkpoints" / "last.ckpt").is_file():
        return "resumable"
    return "none"
