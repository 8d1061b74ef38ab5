"""Add results to a run's own W&B run (when the run used logger=wandb), offline unless told."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _resume(run_dir: Path | None) -> Any:
    """The W&B run that `run_dir` trained with, resumed (offline unless WANDB_MODE says); None
    when it used no W&B."""
    wandb_dir = run_dir / "wandb" if run_dir else None
    if wandb_dir is None or not wandb_dir.is_dir():
        return None
    runs = sorted(p for p in wandb_dir.glob("*run-*-*") if p.is_dir())
    if not runs:
        return None
    import wandb
    from omegaconf import OmegaConf

    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    project = OmegaConf.select(config, "logger.project", default="fer")
    run_id = runs[-1].name.rsplit("-", 1)[-1]
    mode = os.environ.get("WANDB_MODE", "offline")
    return wandb.init(project=project, id=run_id, resume="allow", dir=str(run_dir), mode=mode)


def update_summary(run_dir: Path, values: dict[str, Any]) -> bool:
    """Set summary values of the W&B run that `run_dir` trained with; False without W&B."""
    run = _resume(run_dir)
    if run is None:
        return False
    run.summary.update(values)
    run.finish()
    return True


def log_to_run(run_dir: Path | None, scalars: dict[str, float], images: dict[str, Path]) -> bool:
    """Log into the W&B run that `run_dir` trained with; False when it used no W&B."""
    run = _resume(run_dir)
    if run is None:
        return False
    import wandb

    payload: dict[str, Any] = dict(scalars)
    payload.update({key: wandb.Image(str(path)) for key, path in images.items()})
    run.log(payload)
    run.finish()
    return True
