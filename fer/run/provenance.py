"""Where a run came from: the code's commit, the data's content hash, the library versions and
the machine, recorded in every run's metrics.json (and its W&B config) so that runs compared
together can be shown to differ in the compared setting only."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from fer.data.hdf5 import DatasetError, data_identity
from fer.runtime import cpu_name, cpu_supports_bf16

PROVENANCE_KEY = "provenance"  # where metrics.json keeps it
LIBRARIES = ("torch", "lightning", "numpy", "fer")
CODE_PATHS = ("fer", "conf", "train.py", "pretrain.py", "pyproject.toml")  # what "dirty" looks at


def now() -> str:
    """The time in UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def code_version(package_dir: Path | None = None) -> dict[str, Any]:
    """The git commit of the checkout the `fer` package was imported from and whether its code
    (fer/, conf/, the entry points, pyproject.toml) differs from that commit; commit None where
    the package is not in a git checkout (an installed wheel: its version says what it is)."""
    root = (package_dir or Path(__file__).resolve().parents[1]).parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    changed = git("status", "--porcelain", "--", *CODE_PATHS)
    return {"commit": commit, "dirty": bool(changed) if changed is not None else None}


def versions() -> dict[str, str | None]:
    """Python's and the libraries' versions."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def boot_id() -> str | None:
    """This boot's identity (Linux), or None where the system does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def machine(precision: str) -> dict[str, Any]:
    """The host, its CPU, the threads torch uses and the precision the run trains in. `boot`
    tells machines apart that share a host name (virtual machines are often all `vm`): a block
    trained across two boots may have run on two machines."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {
        "host": platform.node(),
        "boot": boot_id(),
        "cpu": cpu_name(),
        "native_bf16": cpu_supports_bf16(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": gpu,
        "precision": precision,
    }


def provenance(data_path: str | Path, precision: str) -> dict[str, Any]:
    """Everything a run records of where it came from, with its start time; `data` is None
    when the data file cannot be read (the run then fails on it with its own message)."""
    try:
        data: dict[str, Any] | None = data_identity(data_path)
    except (DatasetError, OSError):
        data = None
    return {
        **code_version(),
        "data": data,
        "versions": versions(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        **machine(precision),
        "started_at": now(),
    }
