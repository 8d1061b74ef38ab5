"""Optimizer and learning-rate schedule factories from the `optimizer/` and `scheduler/` configs."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("cosine", "onecycle", "step", "plateau", "none")


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: dict[str, Any]
) -> torch.optim.Optimizer:
    """`{"name": "sgd", "lr": 0.05, "momentum": 0.9, ...}` -> an optimizer."""
    config = dict(config)
    name = config.pop("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid choices: {', '.join(OPTIMIZERS)}")
    if config.get("lr", 0) <= 0:
        raise ValueError(f"optimizer.lr must be positive, got {config.get('lr')!r}")
    if "betas" in config:
        config["betas"] = tuple(config["betas"])
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, **config)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: dict[str, Any], total_steps: int, steps_per_epoch: int
) -> dict[str, Any] | None:
    """A Lightning `lr_scheduler` dict; every schedule but plateau steps per batch."""
    config = dict(config)
    name = config.pop("name")
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; valid choices: {', '.join(SCHEDULERS)}")
    if name == "plateau":  # epoch-wise, on the selection metric
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config.get("factor", 0.5),
            patience=config.get("patience", 3),
        )
        return {"scheduler": plateau, "monitor": "val/acc", "interval": "epoch"}
    if name == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=max(total_steps, 1),
            pct_start=config.get("pct_start", 0.25),
            div_factor=config.get("div_factor", 25.0),
            final_div_factor=config.get("final_div_factor", 1e4),
        )
        return {"scheduler": schedule, "interval": "step"}
    warmup = round(config.get("warmup_epochs", 0) * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if name == "cosine":
            progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
            floor = config.get("min_lr_ratio", 0.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if name == "step":
            return config.get("gamma", 0.1) ** (
                (step // steps_per_epoch) // config.get("step_size", 10)
            )
        return 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"scheduler": schedule, "interval": "step"}


def configure_optimization(
    params: Iterable[torch.nn.Parameter] | list[dict[str, Any]],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    total_steps: int,
    max_epochs: int | None,
) -> dict[str, Any]:
    """What a LightningModule's `configure_optimizers` returns, for a run of `total_steps`."""
    built = build_optimizer(params, optimizer)
    per_epoch = max(total_steps // max(max_epochs or 1, 1), 1)
    return {
        "optimizer": built,
        "lr_scheduler": build_scheduler(built, scheduler, total_steps, per_epoch),
    }
