"""Optimizer and learning-rate schedule factories from the `optimizer/` and `scheduler/` configs."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
# The keys each schedule reads. Their values have one home, conf/scheduler/<name>.yaml: a key
# not listed here is an error, and so is one the config leaves out (no second default in code).
SCHEDULE_KEYS = {
    "cosine": ("warmup_epochs", "min_lr_ratio"),
    "onecycle": ("pct_start", "div_factor", "final_div_factor"),
    "step": ("step_size", "gamma", "warmup_epochs"),
    "plateau": ("factor", "patience"),
    "none": ("warmup_epochs",),
}
SCHEDULERS = tuple(SCHEDULE_KEYS)


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
    name, config = schedule_settings(config)
    if name == "plateau":  # epoch-wise, on the selection metric
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config["factor"], patience=config["patience"]
        )
        return {"scheduler": plateau, "monitor": "val/acc", "interval": "epoch"}
    if name == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=max(total_steps, 1),
            pct_start=config["pct_start"],
            div_factor=config["div_factor"],
            final_div_factor=config["final_div_factor"],
        )
        return {"scheduler": schedule, "interval": "step"}
    warmup = round(config["warmup_epochs"] * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if name == "cosine":
            progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
            floor = config["min_lr_ratio"]
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if name == "step":
            return config["gamma"] ** ((step // steps_per_epoch) // config["step_size"])
        return 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"scheduler": schedule, "interval": "step"}


def schedule_settings(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, settings) of a `scheduler/` config, read strictly: ValueError (one line) for an
    unknown schedule, an unknown key or a key left out."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in SCHEDULE_KEYS:
        raise ValueError(f"unknown scheduler {name!r}; valid choices: {', '.join(SCHEDULERS)}")
    keys = SCHEDULE_KEYS[name]
    unknown = sorted(set(config) - set(keys))
    if unknown:
        raise ValueError(
            f"scheduler {name}: unknown key {', '.join(unknown)}; it takes {', '.join(keys)}"
        )
    missing = [key for key in keys if key not in config]
    if missing:
        raise ValueError(
            f"scheduler {name}: {', '.join(missing)} not set "
            f"(conf/scheduler/{name}.yaml holds the defaults)"
        )
    return name, config


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
