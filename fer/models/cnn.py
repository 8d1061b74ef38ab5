"""A VGG-style CNN whose depth, width, kernel, norm, activation, pooling and head come from config.

Downsampling rule: a 48x48 face can be halved at most 4 times (48 -> 24 -> 12 -> 6 -> 3), so
`min(depth, 4)` blocks downsample, spread evenly with the last block always among them (block i,
counting from 0, downsamples when (i + 1) * n_down // depth grows). A block's filters are
`width * 2**k`, where k counts the downsampling blocks before it, capped at `max_width`. The
channel plan depends on depth and width only, so pooling variants have the same channels, and
`pooling=none` keeps 48x48 maps throughout.
"""

from __future__ import annotations

import torch
from torch import nn

from fer.models.base import INPUT_SIZE, NUM_CLASSES, BackboneClassifier
from fer.models.factory import register
from fer.models.layers import (
    ACTIVATIONS,
    NORMS,
    POOLINGS,
    check_choice,
    make_act,
    make_norm,
    make_pool,
)

MAX_DOWNSAMPLES = 4  # 48 / 2**4 = 3: never collapse the map further
HEADS = ("gap", "flatten")


def downsampling_blocks(depth: int) -> list[bool]:
    """Which of `depth` blocks halve the feature map (see the module docstring)."""
    n_down = min(depth, MAX_DOWNSAMPLES)
    return [(i + 1) * n_down // depth > i * n_down // depth for i in range(depth)]


class ConvBlock(nn.Module):
    """`convs` x (conv -> norm -> act), then a 2x downsampling if asked."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        convs: int,
        kernel_size: int,
        norm: str,
        activation: str,
        pooling: str,
        downsample: bool,
        norm_groups: int,
        residual: bool,
    ) -> None:
        layers: list[nn.Module] = []
        for j in range(convs):
            stride = 2 if downsample and pooling == "stride" and j == convs - 1 else 1
            layers += [
                nn.Conv2d(
                    c_in if j == 0 else c_out,
                    c_out,
                    kernel_size,
                    stride=stride,
                    padding=kernel_size // 2,
                    bias=norm == "none",
                ),
                make_norm(norm, c_out, norm_groups),
                make_act(activation),
            ]
        if downsample and pooling in ("max", "avg"):
            layers.append(make_pool(pooling))
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if residual:
            stride = 2 if downsample and pooling != "none" else 1
            self.shortcut = (
                nn.Identity()
                if c_in == c_out and stride == 1
                else nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                    make_norm(norm, c_out, norm_groups),
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out if self.shortcut is None else out + self.shortcut(x)


@register("cnn")
class ConvNet(BackboneClassifier):
    """The configurable CNN: `forward_features` (B, 1, 48, 48) -> (B, C, h, w); `forward_head`."""

    def __init__(
        self,
        depth: int = 4,  # number of conv blocks (1 to any; see the downsampling rule)
        width: int = 32,  # filters of the first block; doubles at each downsampling
        max_width: int = 512,  # cap on filters per block
        convs_per_block: int = 2,  # kernel_size x kernel_size convs per block, VGG-style
        kernel_size: int = 3,  # odd kernel size of every conv
        norm: str = "batch",  # batch | group | layer | instance | none
        norm_groups: int = 8,  # groups for norm=group
        activation: str = "relu",  # relu | leaky_relu | elu | gelu | silu | mish | tanh
        pooling: str = "max",  # max | avg | stride (strided conv) | none
        residual: bool = False,  # add a (projected) shortcut around each block
        head: str = "gap",  # gap: global average pool + linear; flatten: flatten + MLP
        head_hidden: int = 256,  # hidden units of the flatten head
        dropout: float = 0.3,  # dropout before the classifier (and in the flatten head)
        in_chans: int = 1,
        num_classes: int = NUM_CLASSES,
        input_size: int = INPUT_SIZE,
    ) -> None:
        super().__init__()
        validate_cnn(
            depth=depth,
            width=width,
            max_width=max_width,
            convs_per_block=convs_per_block,
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
            pooling=pooling,
            head=head,
            dropout=dropout,
        )
        blocks, c_in, size, stage = [], in_chans, input_size, 0
        for downsample in downsampling_blocks(depth):
            c_out = min(width * 2**stage, max_width)
            blocks.append(
                ConvBlock(
                    c_in,
                    c_out,
                    convs=convs_per_block,
                    kernel_size=kernel_size,
                    norm=norm,
                    activation=activation,
                    pooling=pooling,
                    downsample=downsample,
                    norm_groups=norm_groups,
                    residual=residual,
                )
            )
            c_in = c_out
            if downsample:
                stage += 1
                size = size if pooling == "none" else size // 2
        self.blocks = nn.Sequential(*blocks)
        self.num_features = c_in
        self.feature_size = size  # side of the last feature map
        if head == "gap":
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Dropout(dropout),
                nn.Linear(c_in, num_classes),
            )
        else:
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Dropout(dropout),
                nn.Linear(c_in * size * size, head_hidden),
                make_act(activation),
                nn.Dropout(dropout),
                nn.Linear(head_hidden, num_classes),
            )

        self.apply(_init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)  # (B, C, h, w)

    @property
    def backbone(self) -> nn.Module:
        """The part that self-supervised pretraining learns and `model.freeze` freezes."""
        return self.blocks

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """One vector per face (B, C): the globally pooled last feature map."""
        return self.forward_features(x).mean((2, 3))


def _init_weights(module: nn.Module) -> None:
    """He (Kaiming) init for convs: keeps the signal alive in deep nets without normalisation."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def validate_cnn(
    *,
    depth: int,
    width: int,
    max_width: int,
    convs_per_block: int,
    kernel_size: int,
    norm: str,
    activation: str,
    pooling: str,
    head: str,
    dropout: float,
) -> None:
    """Refuse invalid values with a message that says what is valid."""
    check_choice("norm", norm, NORMS)
    check_choice("activation", activation, tuple(ACTIVATIONS))
    check_choice("pooling", pooling, POOLINGS)
    check_choice("head", head, HEADS)
    for name, value in [
        ("depth", depth),
        ("width", width),
        ("max_width", max_width),
        ("convs_per_block", convs_per_block),
    ]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"model.{name} must be a positive integer, got {value!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"model.kernel_size must be a positive odd integer, got {kernel_size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout must be in [0, 1), got {dropout!r}")
