"""Experiment loggers chosen by `logger=csv|wandb|none`.

`csv` writes the per-epoch history to RUN_DIR/csv/metrics.csv; `wandb` writes the same history
and adds a W&B run (offline unless `logger.mode=online` or WANDB_MODE says otherwise; offline runs
land in RUN_DIR/wandb and upload later with `wandb sync`); `none` records nothing per epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger

LOGGERS = ("csv", "wandb", "none")


def build_loggers(
    config: dict[str, Any], run_dir: Path, name: str, group: str | None, hparams: dict[str, Any]
) -> list[Logger]:
    """The configured loggers, with the resolved run config recorded as hyperparameters."""
    config = dict(config)
    kind = config.pop("name", "none")
    if kind not in LOGGERS:
        raise ValueError(f"unknown logger {kind!r}; valid choices: {', '.join(LOGGERS)}")
    if kind == "none":
        return []
    loggers: list[Logger] = [CSVLogger(save_dir=run_dir, name="", version="csv")]
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = os.environ.get("WANDB_MODE") or config.pop("mode", "offline")
        config.pop("mode", None)
        loggers.append(
            WandbLogger(
                name=name or run_dir.name,
                group=group,
                save_dir=str(run_dir),
                mode=mode,
                tags=name.split() or None,
                **config,
            )
        )
    for logger in loggers:
        logger.log_hyperparams(hparams)
    return loggers


def link_into_sweep(experiment: Any, sweep_dir: Path) -> Path:
    """Link a sweep job's W&B run directory into SWEEP/wandb/, so one directory holds the whole
    sweep: `wandb leet SWEEP/wandb` browses it, `wandb sync SWEEP/wandb/offline-run-*` uploads it.
    The link is relative: the sweep folder can move."""
    run_files = Path(experiment.dir)  # RUN_DIR/wandb/<offline-run-...>/files
    target = run_files.parent
    link = Path(sweep_dir) / "wandb" / target.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(target.resolve(), link.parent.resolve()))
    return link


def wandb_experiment(loggers: list[Logger]) -> Any | None:
    """The W&B run among the loggers, if any."""
    for logger in loggers:
        if logger.__class__.__name__ == "WandbLogger":
            return logger.experiment
    return None
