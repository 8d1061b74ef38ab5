"""String factories for the ablation axes: normalisation, activation and pooling layers.

Each takes a name from the config (`model.norm=batch`) and raises a ValueError listing the valid
names for anything else, so a bad sweep value is refused before training starts.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

NORMS = ("batch", "group", "layer", "instance", "none")
# An activation is one line here: its name and how to build it (model.activation=<name>; a
# conf/activation/<name>.yaml adds the `activation=<name>` shortcut). Elementwise only: fused
# ensembles (fused.py) run them unchanged on their members' stacked channels.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "mish": lambda: nn.Mish(inplace=True),
    "tanh": nn.Tanh,
}
POOLINGS = ("max", "avg", "stride", "none")


def check_choice(kind: str, value: str, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
    return value


def make_norm(name: str, channels: int, groups: int = 8) -> nn.Module:
    """A normalisation layer over `channels` feature maps; `groups` is used by 'group'."""
    check_choice("norm", name, NORMS)
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "group":
        return nn.GroupNorm(_divisor_at_most(channels, groups), channels)
    if name == "layer":  # LayerNorm over (C, H, W), as in a ConvNet "layer norm"
        return nn.GroupNorm(1, channels)
    if name == "instance":
        return nn.GroupNorm(channels, channels)  # per-channel, per-sample, with affine
    return nn.Identity()


def make_act(name: str) -> nn.Module:
    """An activation layer by name."""
    check_choice("activation", name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


def make_pool(name: str) -> nn.Module:
    """A 2x downsampling layer ('max', 'avg'); 'stride' and 'none' need no layer (Identity)."""
    check_choice("pooling", name, POOLINGS)
    if name == "max":
        return nn.MaxPool2d(2)
    if name == "avg":
        return nn.AvgPool2d(2)
    return nn.Identity()


def _divisor_at_most(channels: int, groups: int) -> int:
    """The largest divisor of `channels` not above `groups`, so GroupNorm always builds."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)
