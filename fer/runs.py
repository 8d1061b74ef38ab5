"""Run directories read back: what a run was (its swept overrides), how it ended, its numbers.

A run directory holds `.hydra/overrides.yaml` and `metrics.json` (written by fer.train); this is
the one reader that fer-compare, fer-report, fer-video and fer-app use to find runs and the best.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fer.naming import is_axis


@dataclass
class Run:
    path: Path
    status: str  # completed | failed | interrupted | running (unfinished)
    axes: dict[str, str] = field(default_factory=dict)  # override key -> value
    metrics: dict[str, Any] = field(default_factory=dict)

    def get(self, *keys: str) -> Any:
        value: Any = self.metrics
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value


def find_runs(paths: list[str]) -> list[Run]:
    """Every run directory at or below the given paths (globs allowed), in a stable order."""
    found: set[Path] = set()
    for pattern in paths:
        matches = [Path(p) for p in glob.glob(pattern)] or [Path(pattern)]
        for path in matches:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such run or sweep directory")
            found |= {p.parent.parent for p in path.glob("**/.hydra/overrides.yaml")}
    return [read_run(p) for p in sorted(found, key=_natural)]


def read_run(path: Path) -> Run:
    overrides = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text()) or []
    axes = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    axes = {k: v for k, v in axes.items() if is_axis(k)}
    try:
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        metrics = {"status": "running"}
    return Run(path, metrics.get("status", "running"), axes, metrics)


def best_run(runs: list[Run]) -> Run | None:
    """The completed run with the best validation accuracy (never test)."""
    done = [r for r in runs if r.status == "completed"]
    return max(done, key=lambda r: r.get("val", "acc")) if done else None


def _natural(path: Path) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in path.parts)
