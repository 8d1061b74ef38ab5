"""Build a model's architecture from its config dict `{"name": "cnn", **kwargs}`.

Every model is a plain `nn.Module` with the same parts: a `backbone` (what pretraining learns and
`model.freeze` freezes), a `head`, `forward_features` / `forward_head`, `embed(x) -> (B, D)` and
`num_features`. The training-only keys (pretrained weights, an encoder to start from, freezing,
the backbone's learning rate) are not architecture: `fer.transfer` applies them, so a
checkpoint rebuilds its model without downloads or the files it was initialised from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from fer.models.cnn import ConvNet
from fer.models.ensemble import Ensemble

# Keys every model config may carry that only matter when training starts (fer.transfer).
TRAINING_KEYS = ("pretrained", "weights_path", "init_from", "freeze", "backbone_lr_mult")


def _torchvision(**kwargs: Any) -> nn.Module:
    from fer.models.torchvision_nets import TorchvisionNet  # torchvision imports only when used

    return TorchvisionNet(**kwargs)


def _vit(**kwargs: Any) -> nn.Module:
    from fer.models.vit import ViT  # imported when used, like the other non-default models

    return ViT(**kwargs)


def _hf(**kwargs: Any) -> nn.Module:
    from fer.models.hf import HFBackbone  # transformers imports only when used

    return HFBackbone(**kwargs)


def _ensemble(members: list[dict[str, Any]]) -> nn.Module:
    return Ensemble([build_model(dict(config)) for config in members])


MODELS: dict[str, Callable[..., nn.Module]] = {
    "cnn": ConvNet,
    "torchvision": _torchvision,
    "vit": _vit,
    "hf": _hf,
    "ensemble": _ensemble,
}


def architecture(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, constructor arguments): the config without its training-only keys."""
    arch = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
    return arch.pop("name", "cnn"), arch


def build_model(config: dict[str, Any]) -> nn.Module:
    """The architecture named by `config["name"]`, randomly initialised."""
    name, arch = architecture(config)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(MODELS)}")
    try:
        return MODELS[name](**arch)
    except TypeError as e:  # an unknown or missing key in the model config
        raise ValueError(f"model {name!r}: {e}") from None
