"""ImageNet CNNs from torchvision (vgg16, resnet18, mobilenet_v3_small) adapted to 48x48 grey faces.

The face is un-normalised, resized (`resize`: 64 is quick on a CPU, 224 is what ImageNet features
were learned at), repeated to three channels and normalised with the ImageNet statistics; the
torchvision trunk is the `backbone`, and a new 7-class head (global average pool, dropout,
linear) replaces the ImageNet classifier. Pretrained weights are loaded separately
(`load_pretrained`), so a checkpoint can rebuild the architecture without any download.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from fer.models.base import NUM_CLASSES, BackboneClassifier
from fer.models.factory import register

ARCHES = ("vgg16", "resnet18", "mobilenet_v3_small")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNLOAD_TIMEOUT_S = 30  # per socket operation: an unreachable host fails instead of hanging


class RGBAdapter(nn.Module):
    """Standardised grey faces (B, 1, H, W) -> a pretrained backbone's input (B, 3, s, s): the
    faces' standardisation undone (`input_mean`/`input_std`; None: faces already in [0, 1]),
    resized to `resize`, repeated to three channels and normalised with the backbone's own RGB
    statistics. No weights: checkpoints are unchanged by it."""

    def __init__(
        self,
        resize: int,
        rgb_mean: tuple[float, ...] | list[float],
        rgb_std: tuple[float, ...] | list[float],
        input_mean: float | None = None,
        input_std: float | None = None,
    ) -> None:
        super().__init__()
        self.resize, self.input_mean, self.input_std = resize, input_mean, input_std
        self.register_buffer("rgb_mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), False)
        self.register_buffer("rgb_std", torch.tensor(rgb_std).view(1, 3, 1, 1), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_mean is not None:
            x = x * self.input_std + self.input_mean  # back to [0, 1]
        if x.shape[-1] != self.resize:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear")
        return (x.expand(-1, 3, -1, -1) - self.rgb_mean) / self.rgb_std


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights that are neither cached, nor downloadable, nor given as a file."""


def _torchvision_net(arch: str) -> nn.Module:
    import torchvision

    if arch not in ARCHES:
        raise ValueError(f"unknown model.arch {arch!r}; valid choices: {', '.join(ARCHES)}")
    return torchvision.models.get_model(arch, weights=None)


def _trunk(arch: str, net: nn.Module) -> tuple[nn.Module, int]:
    """The convolutional part of a torchvision classifier and its output channels."""
    if arch == "resnet18":
        children = [net.conv1, net.bn1, net.relu, net.maxpool]
        children += [net.layer1, net.layer2, net.layer3, net.layer4]
        return nn.Sequential(*children), net.fc.in_features
    if arch == "vgg16":
        return net.features, 512
    return net.features, net.classifier[0].in_features  # mobilenet_v3_small: 576


@register("torchvision")
class TorchvisionNet(BackboneClassifier):
    """A torchvision trunk (`backbone`) with a new head for `num_classes` emotions."""

    def __init__(
        self,
        arch: str = "resnet18",  # vgg16 | resnet18 | mobilenet_v3_small
        resize: int = 64,  # side the 48x48 face is resized to before the trunk
        dropout: float = 0.2,  # before the new linear classifier
        num_classes: int = NUM_CLASSES,
        # The standardisation the faces arrive with, undone before ImageNet's: fer fills in the
        # data's (checkpoints store it); None: faces arrive in [0, 1].
        input_mean: float | None = None,
        input_std: float | None = None,
    ) -> None:
        super().__init__()
        if resize < 32:
            raise ValueError(f"model.resize must be at least 32, got {resize}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout!r}")
        self.arch, self.resize = arch, resize
        self.backbone, self.num_features = _trunk(arch, _torchvision_net(arch))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(self.num_features, num_classes),
        )
        self.adapter = RGBAdapter(resize, IMAGENET_MEAN, IMAGENET_STD, input_mean, input_std)

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised grey (B, 1, 48, 48) -> ImageNet-normalised RGB (B, 3, resize, resize)."""
        return self.adapter(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.adapt(x))  # (B, C, h, w)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """One vector per face (B, C): the pooled trunk output."""
        return self.forward_features(x).mean((2, 3))

    def load_pretrained(self, weights_path: str | None = None) -> None:
        """ImageNet weights into the trunk: from `weights_path`, else torchvision's cache or
        download; PretrainedWeightsError with what to do when neither works."""
        state = _read_state_dict(weights_path) if weights_path else _imagenet_state(self.arch)
        net = _torchvision_net(self.arch)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise PretrainedWeightsError(
                f"{weights_path or self.arch}: not {self.arch} weights ({str(e).splitlines()[0]})"
            ) from None
        self.backbone.load_state_dict(_trunk(self.arch, net)[0].state_dict())


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise PretrainedWeightsError(f"model.weights_path: {file} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # not a tensor file, or one that needs pickled code
        raise PretrainedWeightsError(
            f"model.weights_path: {file} is not a weights-only state dict ({e.__class__.__name__})"
        ) from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's default weights for `arch`, the standard way (its cache, else download)."""
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cached = cache / Path(urlparse(weights.url).path).name
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as e:  # no network, a proxy refusing, a truncated file in the cache
        raise PretrainedWeightsError(
            f"cannot load pretrained {arch} weights ({weights}): {cached} is not in the torch "
            f"cache and downloading {weights.url} failed ({e.__class__.__name__}: {e}). "
            f"Download that file where there is a network and copy it into {cache} (or set "
            f"TORCH_HOME), pass model.weights_path=/path/to/{cached.name}, or train without "
            f"them: model.pretrained=false"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
