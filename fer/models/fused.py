"""Same-shaped CNNs run as one network, for inference: an ensemble's members side by side.

N `ConvNet`s of one architecture become one network N times as wide whose convolutions are
grouped (member i's filters see only member i's channels), with every batch norm folded into the
convolution before it (eval statistics). On a small CPU a face alone is classified in about the
time of a few wide layers instead of N networks' dozens of small ones; for one member, folding
the norms alone saves a little. The output is the ensemble's (log of the mean probability), equal
up to float rounding. `fuse_for_inference` returns None for a model it cannot fuse (other
layers, residual shortcuts, non-per-channel norms, members that differ), which then runs as it
is. The fused copy is a snapshot: build it again after changing the weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fer.models.cnn import ConvNet
from fer.models.ensemble import Ensemble
from fer.models.layers import ACTIVATIONS as LAYER_ACTIVATIONS

# Layers that act on each value or each channel alone, so they run unchanged on N members'
# stacked channels (activations also on the head's (B, N, F) features).
ACTIVATIONS = (*{type(build()) for build in LAYER_ACTIVATIONS.values()}, nn.Identity)
PER_CHANNEL = (*ACTIVATIONS, nn.MaxPool2d, nn.AvgPool2d)


class GroupedLinear(nn.Module):
    """N linear layers side by side: (B, N, F_in) -> (B, N, F_out)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([_bias(layer) for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bnf,nof->bno", x, self.weight) + self.bias


class FusedConvNets(nn.Module):
    """N same-shaped ConvNets as one grouped network; forward gives the log mean probability."""

    def __init__(self, body: nn.Sequential, head: list[nn.Module], members: int) -> None:
        super().__init__()
        self.body = body  # grouped convs (norms folded in) and per-channel layers
        self.head = nn.ModuleList(head)  # on (B, N, ...): pooling, flatten, linear, activation
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)  # (B, C_in, H, W) -> (B, N * C, h, w)
        x = x.reshape(x.shape[0], self.members, -1, *x.shape[2:])  # (B, N, C, h, w)
        for layer in self.head:
            x = layer(x)
        log_probs = x.float().log_softmax(-1)  # (B, N, classes)
        return torch.logsumexp(log_probs, dim=1) - math.log(self.members)


def fuse_for_inference(model: nn.Module) -> FusedConvNets | None:
    """The fused equivalent of an eval-mode ConvNet or Ensemble of ConvNets, or None."""
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    if not all(type(m) is ConvNet and not m.training for m in members):
        return None
    if any(block.shortcut is not None for m in members for block in m.blocks):
        return None  # residual blocks: not fused
    bodies = [[layer for block in m.blocks for layer in block.body] for m in members]
    heads = [list(m.head) for m in members]
    if not (_same_shape(bodies) and _same_shape(heads)):
        return None
    body, head = _fuse_body(bodies), _fuse_head(heads)
    if body is None or head is None:
        return None
    return FusedConvNets(body, head, len(members)).eval()


def _same_shape(layer_lists: list[list[nn.Module]]) -> bool:
    """Whether every list has the same layers, settings and parameter shapes as the first."""

    def signature(layers: list[nn.Module]) -> list[tuple]:
        return [(repr(m), [p.shape for p in m.parameters()]) for m in layers]

    return all(signature(layers) == signature(layer_lists[0]) for layers in layer_lists)


def _fuse_body(bodies: list[list[nn.Module]]) -> nn.Sequential | None:
    n, layers, i = len(bodies), [], 0
    first = bodies[0]
    while i < len(first):
        layer = first[i]
        if isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or layer.padding_mode != "zeros":
                return None
            norms = [body[i + 1] if i + 1 < len(body) else None for body in bodies]
            if isinstance(norms[0], nn.BatchNorm2d) and norms[0].running_var is None:
                return None  # batch statistics at test time: nothing to fold
            folded = [_fold(body[i], norm) for body, norm in zip(bodies, norms)]
            # The first conv reads the one face for every member: an ordinary conv with all
            # members' filters. Later ones read each member's own channels: grouped.
            groups = n if any(isinstance(m, nn.Conv2d) for m in layers) else 1
            conv = nn.Conv2d(
                layer.in_channels * groups,
                layer.out_channels * n,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=groups,
            )
            conv.weight.data = torch.cat([w for w, _ in folded])
            conv.bias.data = torch.cat([b for _, b in folded])
            layers.append(conv)
            i += 2 if isinstance(norms[0], nn.BatchNorm2d) else 1
        elif isinstance(layer, PER_CHANNEL):
            layers.append(layer)
            i += 1
        else:
            return None  # a norm that mixes channels or samples (group, layer, instance)
    return nn.Sequential(*layers)


def _fuse_head(heads: list[list[nn.Module]]) -> list[nn.Module] | None:
    fused: list[nn.Module] = []
    for i, layer in enumerate(heads[0]):
        if isinstance(layer, nn.AdaptiveAvgPool2d) and layer.output_size in (1, (1, 1)):
            fused.append(_MeanHW())
        elif isinstance(layer, nn.Flatten):
            fused.append(nn.Flatten(start_dim=2))  # (B, N, ...) -> (B, N, F)
        elif isinstance(layer, nn.Dropout):
            continue  # identity in eval mode
        elif isinstance(layer, nn.Linear):
            fused.append(GroupedLinear([head[i] for head in heads]))
        elif isinstance(layer, ACTIVATIONS):
            fused.append(layer)
        else:
            return None
    return fused


class _MeanHW(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((-2, -1))  # (B, N, C, h, w) -> (B, N, C)


def _fold(conv: nn.Conv2d, norm: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of `conv` followed by `norm` (eval-mode batch norm, or not a norm)."""
    weight, bias = conv.weight.detach(), _bias(conv)
    if not isinstance(norm, nn.BatchNorm2d):
        return weight.clone(), bias
    gamma = norm.weight.detach() if norm.affine else torch.ones_like(norm.running_var)
    beta = norm.bias.detach() if norm.affine else torch.zeros_like(norm.running_var)
    scale = gamma / torch.sqrt(norm.running_var + norm.eps)
    return weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + beta


def _bias(layer: nn.Conv2d | nn.Linear) -> torch.Tensor:
    if layer.bias is None:
        return layer.weight.new_zeros(layer.weight.shape[0])
    return layer.bias.detach()
