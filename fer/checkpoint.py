"""Self-describing, weights-only-safe checkpoints: save metadata, load a ready model from a path.

A checkpoint carries a `fer` entry (classes, input size, normalisation, model config) beside the
weights, so inference needs nothing else; every load uses `torch.load(weights_only=True)`, which
never executes pickled code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer.models import build_model

FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A path that is not a usable fer checkpoint or run directory."""


@dataclass(frozen=True)
class ModelInfo:
    classes: list[str]
    input_size: int
    mean: float
    std: float
    model: dict[str, Any]  # the model config that build_model takes


def checkpoint_metadata(hparams: Any) -> dict[str, Any]:
    """The `fer` entry written into every checkpoint (plain types only)."""
    return {
        "format_version": FORMAT_VERSION,
        "classes": list(hparams["classes"]),
        "input_size": int(hparams["input_size"]),
        "grayscale": True,
        "mean": float(hparams["mean"]),
        "std": float(hparams["std"]),
        "model": dict(hparams["model"]),
    }


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file, or a run directory -> its checkpoints/<which>.ckpt."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / f"{which}.ckpt"
        if not candidate.is_file():
            raise CheckpointError(f"{path}: no checkpoints/{which}.ckpt (is it a run directory?)")
        return candidate
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; CheckpointError if unsafe or unreadable."""
    path = resolve_checkpoint(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files, non-checkpoint files
        raise CheckpointError(
            f"{path}: not a readable weights-only checkpoint ({e.__class__.__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or "fer" not in checkpoint:
        raise CheckpointError(f"{path}: not a fer checkpoint (no 'fer' metadata)")
    return checkpoint


def load_model(path: str | Path) -> tuple[nn.Module, ModelInfo]:
    """Build the model a checkpoint describes and load its weights; returned in eval mode."""
    checkpoint = load_checkpoint(path)
    meta = checkpoint["fer"]
    info = ModelInfo(
        list(meta["classes"]), meta["input_size"], meta["mean"], meta["std"], dict(meta["model"])
    )
    model = build_model(info.model)
    prefix = "net."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    model.load_state_dict(state)
    return model.eval(), info
