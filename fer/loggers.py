"""Experiment loggers chosen by `logger=csv|wandb|none`; W&B runs offline unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger

LOGGERS = ("csv", "wandb", "none")


def build_logger(
    config: dict[str, Any], run_dir: Path, run_name: str, group: str | None, hparams: dict[str, Any]
) -> Logger | None:
    """The configured logger, with the resolved run config recorded as its hyperparameters."""
    config = dict(config)
    name = config.pop("name", "none")
    if name not in LOGGERS:
        raise ValueError(f"unknown logger {name!r}; valid choices: {', '.join(LOGGERS)}")
    if name == "none":
        return None
    if name == "csv":
        logger: Logger = CSVLogger(save_dir=run_dir, name="", version="csv")
    else:
        from lightning.pytorch.loggers import WandbLogger

        mode = os.environ.get("WANDB_MODE") or config.pop("mode", "offline")
        config.pop("mode", None)
        logger = WandbLogger(
            name=run_name,
            group=group,
            save_dir=str(run_dir),
            mode=mode,
            tags=run_name.split() or None,
            **config,
        )
    logger.log_hyperparams(hparams)
    return logger
