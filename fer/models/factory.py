"""Build a model's architecture from its config dict `{"name": "cnn", **kwargs}`.

Every model is a plain `nn.Module` with the same parts: a `backbone` (what pretraining learns and
`model.freeze` freezes), a `head`, `forward_features` / `forward_head`, `embed(x) -> (B, D)` and
`num_features`. The training-only keys (pretrained weights, an encoder to start from, freezing,
the backbone's learning rate) are not architecture: `fer.transfer` applies them, so a
checkpoint rebuilds its model without downloads or the files it was initialised from.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

# Keys every model config may carry that only matter when training starts (fer.transfer).
TRAINING_KEYS = ("pretrained", "weights_path", "init_from", "freeze", "backbone_lr_mult")
# Modules of this package that hold parts, not models.
PARTS = ("base", "factory", "fused", "layers")

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])
_registered: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Class (or function) decorator: `model.name=<name>` builds it. A model lives in
    `fer/models/<name>.py`, which is imported when the name is first asked for (so torchvision or
    transformers load only for the models that use them)."""

    def add(builder: Builder) -> Builder:
        _registered[name] = builder
        return builder

    return add


def model_names() -> list[str]:
    """The model names there are: one per model module of this package."""
    here = [str(Path(__file__).parent)]
    return [m.name for m in pkgutil.iter_modules(here) if m.name not in PARTS]


def model_builder(name: str) -> Callable[..., nn.Module]:
    """The class or function registered as `name`, importing its module first."""
    if name not in _registered and name in model_names():
        importlib.import_module(f"fer.models.{name}")
    if name not in _registered:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(model_names())}")
    return _registered[name]


def architecture(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, constructor arguments): the config without its training-only keys."""
    arch = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
    return arch.pop("name", "cnn"), arch


def for_faces(config: dict[str, Any], mean: float, std: float) -> dict[str, Any]:
    """The config with the standardisation its faces arrive with (the data's or checkpoint's
    mean and std), for models that take it (torchvision and hf undo it before ImageNet's) and
    do not say; an ensemble's members likewise."""
    name, _ = architecture(config)
    if name == "ensemble":
        return {**config, "members": [for_faces(m, mean, std) for m in config["members"]]}
    takes = inspect.signature(model_builder(name)).parameters
    if "input_mean" in takes and config.get("input_mean") is None:
        return {**config, "input_mean": mean, "input_std": std}
    return config


def with_data_shape(
    config: dict[str, Any], classes: int, channels: int, size: int, keep: bool = False
) -> dict[str, Any]:
    """The config with the number of classes, input channels and input size, for the builders
    that take them (torchvision and Hugging Face backbones take no channels or size: they
    resize any input and see grey as RGB); an ensemble's members likewise. Training sets the
    data's values; loading (`keep`) fills in only what a saved config lacks, so a model rebuilds
    from its own file, not from the builders' defaults."""
    name, _ = architecture(config)
    if name == "ensemble":
        members = [with_data_shape(m, classes, channels, size, keep) for m in config["members"]]
        return {**config, "members": members}
    takes = inspect.signature(model_builder(name)).parameters
    shape = {"num_classes": classes, "in_chans": channels, "input_size": size}
    values = {k: v for k, v in shape.items() if k in takes}
    return {**values, **config} if keep else {**config, **values}


def check_config(config: dict[str, Any]) -> None:
    """ValueError (one line) for a model config that its builder cannot take, before anything
    is built or written: a key the architecture has no use for, e.g. `norm=group` (which sets
    model.norm) with `model=vit`, whose blocks use layer norm."""
    name, arch = architecture(config)
    if name == "ensemble":
        for member in config.get("members", []):
            check_config(member)
        return
    takes = inspect.signature(model_builder(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in takes.values()):
        return
    unknown = sorted(set(arch) - set(takes))
    if unknown:
        raise ValueError(
            f"model={name} takes no {', '.join(unknown)} (set by model.<key>= or an axis group "
            f"such as norm=); it takes {', '.join(k for k in takes if k != 'self')}"
        )


def build_model(config: dict[str, Any]) -> nn.Module:
    """The architecture named by `config["name"]`, randomly initialised."""
    name, arch = architecture(config)
    builder = model_builder(name)
    try:
        return builder(**arch)
    except TypeError as e:  # an unknown or missing key in the model config
        raise ValueError(f"model {name!r}: {e}") from None
