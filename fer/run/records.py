"""Run directories read back: what a run was (its swept overrides), how it ended, its numbers.

A run directory holds `.hydra/overrides.yaml` and `metrics.json` (written by fer.train); this is
the one reader that fer-compare, fer-report, fer-video and fer-app use to find runs and the best.

A sweep directory may hold a `baseline.yaml` naming runs kept elsewhere that belong to it: a
one-at-a-time part of the reference study varies one setting around the default, and its
default's runs are the grid's runs of the same configuration (docs/study/<part>/baseline.yaml):

    runs: ["../grid/model.depth=4,model.norm=batch,seed=*"]   # globs, relative to the sweep

Runs read together that were launched with different overrides (a part and its baseline, or two
sweeps) get the settings they do not name filled in from their own resolved config, so
`optimizer=sgd` meets the baseline's `optimizer=adamw` rather than a blank.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fer.run.naming import is_axis

HYDRA_FILES = ("overrides.yaml", "config.yaml", "hydra.yaml")  # what a run's .hydra/ holds
BASELINE_FILE = "baseline.yaml"  # runs kept elsewhere that belong to a sweep (see above)


@dataclass
class Run:
    path: Path
    status: str  # completed | failed | interrupted | running (unfinished) | unreadable
    axes: dict[str, str] = field(default_factory=dict)  # override key -> value
    metrics: dict[str, Any] = field(default_factory=dict)

    def get(self, *keys: str) -> Any:
        return _select(self.metrics, *keys)


def find_runs(paths: list[str]) -> list[Run]:
    """Every run directory at or below the given paths (globs allowed), in a stable order."""
    found: set[Path] = set()
    for pattern in paths:
        matches = [Path(p) for p in glob.glob(pattern)] or [Path(pattern)]
        for path in matches:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such run or sweep directory")
            found |= {p.parent.parent for p in path.glob("**/.hydra/overrides.yaml")}
            found |= baseline_runs(path)
    runs = [read_run(p) for p in sorted(found, key=_natural)]
    _complete_axes(runs)
    return runs


def baseline_runs(sweep: Path) -> set[Path]:
    """The run directories that `sweep/baseline.yaml` names (none without one)."""
    spec = sweep / BASELINE_FILE
    if not spec.is_file():
        return set()
    try:
        patterns = (yaml.safe_load(spec.read_text()) or {})["runs"]
    except (yaml.YAMLError, TypeError, KeyError) as e:
        raise ValueError(f"{spec}: not `runs: [glob, ...]` ({e})") from e
    if not isinstance(patterns, list):
        raise ValueError(f"{spec}: `runs` must be a list of globs")
    runs: set[Path] = set()
    for pattern in patterns:
        matches = {
            Path(os.path.normpath(m)).parent.parent
            for m in glob.glob(str(sweep / pattern / ".hydra" / "overrides.yaml"))
        }
        if not matches:
            raise FileNotFoundError(f"{spec}: {pattern!r} names no run directory")
        runs |= matches
    return runs


def read_run(path: Path) -> Run:
    """A run directory's record; status "unreadable" (shown, never compared) where one of its
    `.hydra/` files is not plain YAML (a tag such as `!!python/object`, a broken file)."""
    files = [path / ".hydra" / name for name in HYDRA_FILES]
    try:
        hydra = {f.name: yaml.safe_load(f.read_text()) for f in files if f.is_file()}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return Run(path, "unreadable")
    overrides = hydra.get("overrides.yaml") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        return Run(path, "unreadable")
    axes = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    axes = {k: v for k, v in axes.items() if is_axis(k)}
    try:
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        metrics = {"status": "running"}
    return Run(path, metrics.get("status", "running"), axes, metrics)


def _complete_axes(runs: list[Run]) -> None:
    """Give every run a value for every axis any of them has, from its own config if unnamed."""
    keys = {k for r in runs for k in r.axes}
    for run in runs:
        run.axes |= configured_axes(run, keys - run.axes.keys())


def configured_axes(run: Run, keys: set[str]) -> dict[str, str]:
    """The values a run's own `.hydra/` config gives the override keys (those it says)."""
    if not keys:
        return {}
    hydra = _load_yaml(run.path / ".hydra" / "hydra.yaml")
    choices = _select(hydra, "hydra", "runtime", "choices")
    config = _load_yaml(run.path / ".hydra" / "config.yaml")
    values = {key: _setting(choices, config, key) for key in keys}
    return {key: value for key, value in values.items() if value is not None}


def _setting(choices: Any, config: Any, key: str) -> str | None:
    """What a run's resolved config says for an override key, written as an override would be:
    the chosen option of a config group (`optimizer` -> `adamw`), else the value at the dotted
    key (`model.depth` -> `4`); None when the run does not say."""
    if isinstance(choices, dict) and key in choices:
        return _as_override(choices[key])
    value = _select(config, *key.split("."))
    return None if value is None or isinstance(value, (dict, list)) else _as_override(value)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _select(tree: Any, *keys: str) -> Any:
    """tree[k1][k2]..., or None where a level is missing."""
    for key in keys:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def _as_override(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def best_run(runs: list[Run]) -> Run | None:
    """The completed run with the best validation accuracy (never test)."""
    done = [r for r in runs if r.status == "completed"]
    return max(done, key=lambda r: r.get("val", "acc")) if done else None


def _natural(path: Path) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in path.parts)
