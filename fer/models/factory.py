"""Build a model from its config dict `{"name": "cnn", **kwargs}`; new models register here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from fer.models.cnn import ConvNet

MODELS: dict[str, Callable[..., nn.Module]] = {"cnn": ConvNet}


def build_model(config: dict[str, Any]) -> nn.Module:
    """Instantiate the model named by `config["name"]` with the remaining keys as arguments."""
    config = dict(config)
    name = config.pop("name", "cnn")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(MODELS)}")
    try:
        return MODELS[name](**config)
    except TypeError as e:  # an unknown or missing key in the model config
        raise ValueError(f"model {name!r}: {e}") from None
