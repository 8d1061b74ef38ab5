"""Where a model's weights start and which of them train: the training-only model keys.

- `model.pretrained=true` (torchvision and hf models): ImageNet / hub weights in the backbone,
  from `model.weights_path` when given, else the library's cache or a download.
- `model.init_from=PATH`: the backbone from an encoder that `pretrain.py` saved (its run
  directory or `encoder.safetensors`), or from any fer checkpoint, run directory or model file.
- `model.freeze=true`: the backbone does not train (a linear probe); its norm layers stay in
  eval mode.
- `model.backbone_lr_mult`: the backbone's learning rate relative to the head's when fine-tuning.

Encoders are safetensors files: they load without executing pickled code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer.checkpoint import load_model
from fer.io import atomic_path
from fer.modelinfo import CheckpointError
from fer.models.factory import architecture

ENCODER_FILE = "encoder.safetensors"
ENCODER_KEY = "fer_encoder"


def prepare_for_training(net: nn.Module, config: dict[str, Any]) -> nn.Module:
    """Apply `pretrained`, `weights_path`, `init_from` and `freeze` from a model config."""
    name = config.get("name", "cnn")
    if config.get("weights_path") and not config.get("pretrained"):
        raise ValueError("model.weights_path is set but model.pretrained=false: set it true")
    if config.get("pretrained"):
        if not hasattr(net, "load_pretrained"):
            raise ValueError(
                f"model {name!r} has no pretrained weights (model.pretrained=true is for the "
                f"torchvision models and hf); start it from a self-supervised encoder with "
                f"model.init_from=PRETRAIN_RUN_DIR"
            )
        net.load_pretrained(config.get("weights_path"))
    if config.get("init_from"):
        load_encoder(config["init_from"], net)
    if config.get("freeze"):
        net.backbone.requires_grad_(False)
    return net


def param_groups(net: nn.Module, lr: float, backbone_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Trainable parameters: the head (and anything outside the backbone) at `lr`, the backbone
    at `lr * backbone_lr_mult`; frozen parameters are left out."""
    if backbone_lr_mult <= 0:
        raise ValueError(f"model.backbone_lr_mult must be positive, got {backbone_lr_mult}")
    in_backbone = {id(p) for p in net.backbone.parameters()}
    rest = [p for p in net.parameters() if id(p) not in in_backbone and p.requires_grad]
    backbone = [p for p in net.backbone.parameters() if p.requires_grad]
    groups = [{"params": rest, "lr": lr}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr_mult})
    return groups


def save_encoder(
    net: nn.Module, model_config: dict[str, Any], path: str | Path, info: dict[str, Any]
) -> Path:
    """Write `net.backbone` as safetensors with the model config and `info` as metadata."""
    from safetensors.torch import save_file

    name, arch = architecture(model_config)
    state = {k: v.detach().contiguous() for k, v in net.backbone.state_dict().items()}
    meta = {"model": {"name": name, **arch}, **info}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={ENCODER_KEY: json.dumps(meta)})
    return Path(path)


def read_encoder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(backbone state dict, metadata) from an encoder file, a pretrain run directory, or any
    fer checkpoint, run directory or exported model (its backbone)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if (path / ENCODER_FILE).is_file():
        path = path / ENCODER_FILE
    if path.suffix == ".safetensors" and path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception as e:
            raise ValueError(
                f"model.init_from: {path} is unreadable ({e.__class__.__name__})"
            ) from None
        if ENCODER_KEY in meta:
            return load_file(str(path)), json.loads(meta[ENCODER_KEY])
    try:
        model, info = load_model(path)
    except CheckpointError as e:
        raise ValueError(
            f"model.init_from: {e} (expected a pretrain.py run directory, an {ENCODER_FILE}, "
            f"or a fer checkpoint)"
        ) from None
    return model.backbone.state_dict(), {"model": info.model}


def load_encoder(path: str | Path, net: nn.Module) -> dict[str, Any]:
    """Load an encoder into `net.backbone`; a clear ValueError when the architectures differ."""
    state, meta = read_encoder(path)
    try:
        net.backbone.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise ValueError(
            f"model.init_from: {path} holds the backbone of {meta.get('model')}, which does not "
            f"fit this run's model ({first}); use the model settings it was pretrained with"
        ) from None
    return meta
