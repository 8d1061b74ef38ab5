"""Any Hugging Face image backbone (ViT, DeiT, DINOv2, ConvNeXt ...) through `transformers`.

`name_or_path` is a hub id (`facebook/dinov2-small`) or a local `save_pretrained` directory. The
architecture comes from its config, so a checkpoint rebuilds it from the same id or directory
(the hub cache is enough); the pretrained weights load separately (`load_pretrained`). The face
is resized to `resize` (default: the backbone's own image size), repeated to three channels and
normalised with the backbone's image statistics; one vector per face (the class token of a
transformer, the pooled map of a CNN) feeds a new linear head.
"""

from __future__ import annotations

import json
import socket
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from fer.models.base import NUM_CLASSES, BackboneClassifier
from fer.models.factory import register
from fer.models.torchvision import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedWeightsError,
    RGBAdapter,
)


def _offline_message(name_or_path: str, error: Exception) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return (
        f"cannot load Hugging Face model {name_or_path!r}: it is neither a local directory nor "
        f"in the hub cache {HF_HUB_CACHE}, and the hub is unreachable "
        f"({'offline' if hub_offline() else error.__class__.__name__}). Where there is a "
        f"network, run "
        f"`hf download {name_or_path}` (then copy the cache, or set HF_HOME), or "
        f"`AutoModel.from_pretrained(...).save_pretrained(DIR)` and pass model.name_or_path=DIR"
    )


@cache
def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE is set or the hub does not answer within seconds; then every
    load is local-only, so a missing model fails at once instead of after minutes of retries."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return True
    return False


def _hf_call(name_or_path: str, load: Any) -> Any:
    """Run a transformers loader, turning 'not found anywhere' into PretrainedWeightsError."""
    try:
        return load()
    except (OSError, ValueError) as e:  # transformers reports a missing repo/file as OSError
        raise PretrainedWeightsError(_offline_message(name_or_path, e)) from None


def _image_stats(name_or_path: str) -> tuple[list[float], list[float], int | None]:
    """Mean, std and size from the backbone's preprocessor config when it has one."""
    from transformers.utils import cached_file

    path = cached_file(
        name_or_path,
        "preprocessor_config.json",
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        local_files_only=hub_offline(),
    )
    if not path:
        return list(IMAGENET_MEAN), list(IMAGENET_STD), None
    config = json.loads(Path(path).read_text())
    size = config.get("crop_size") or config.get("size") or {}
    side = size if isinstance(size, int) else size.get("height") or size.get("shortest_edge")
    return (
        list(config.get("image_mean", IMAGENET_MEAN)),
        list(config.get("image_std", IMAGENET_STD)),
        side,
    )


@register("hf")
class HFBackbone(BackboneClassifier):
    """A `transformers.AutoModel` backbone with a new linear head."""

    def __init__(
        self,
        name_or_path: str = "facebook/dinov2-small",  # hub id or local directory
        resize: int | None = None,  # side the face is resized to; None: the backbone's own
        dropout: float = 0.1,  # before the linear classifier
        num_classes: int = NUM_CLASSES,
        # The standardisation the faces arrive with, undone before ImageNet's: fer fills in the
        # data's (checkpoints store it); None: faces arrive in [0, 1].
        input_mean: float | None = None,
        input_std: float | None = None,
    ) -> None:
        from transformers import AutoConfig, AutoModel

        super().__init__()
        self.name_or_path = name_or_path
        config = _hf_call(
            name_or_path,
            lambda: AutoConfig.from_pretrained(name_or_path, local_files_only=hub_offline()),
        )
        mean, std, side = _image_stats(name_or_path)
        self.resize = int(resize or side or getattr(config, "image_size", 224))
        self.backbone = AutoModel.from_config(config)
        hidden = getattr(config, "hidden_size", None) or config.hidden_sizes[-1]
        self.num_features = int(hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))
        self.adapter = RGBAdapter(self.resize, mean, std, input_mean, input_std)

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised grey (B, 1, 48, 48) -> the backbone's pixel_values (B, 3, s, s)."""
        return self.adapter(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backbone(pixel_values=self.adapt(x.contiguous()))
        hidden = out.last_hidden_state
        if hidden.dim() == 3:  # transformer tokens (B, N, D): the class token
            return hidden[:, 0]
        pooled = getattr(out, "pooler_output", None)  # CNN backbones: pooled (B, C, 1, 1)
        return pooled.flatten(1) if pooled is not None else hidden.mean((2, 3))

    def load_pretrained(self, weights_path: str | None = None) -> None:
        """The backbone's pretrained weights from `weights_path` (a directory) or name_or_path."""
        from transformers import AutoModel

        source = weights_path or self.name_or_path
        pretrained = _hf_call(
            source, lambda: AutoModel.from_pretrained(source, local_files_only=hub_offline())
        )
        self.backbone.load_state_dict(pretrained.state_dict())
