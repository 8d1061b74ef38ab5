"""Every axis of the headline sweep takes effect: the networks a `model.depth x model.norm`
sweep composes (and the activation and pooling axes) have the layers and parameter counts their
settings say, built from the composed config as training builds them."""

from __future__ import annotations

import itertools

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from fer.system import EmotionClassifier

from conftest import config

NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU, "silu": nn.SiLU}


def network(tiny_h5, tmp_path, *overrides: str) -> nn.Module:
    """The network a run with these overrides trains (composed config -> LightningModule)."""
    cfg = config(tiny_h5, tmp_path, "model.width=32", *overrides)
    return EmotionClassifier(
        model=OmegaConf.to_container(cfg.model, resolve=True),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        channels_last=False,
    ).net


def count(model: nn.Module, kinds: type | tuple[type, ...]) -> int:
    return sum(isinstance(m, kinds) for m in model.modules())


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_depth_by_norm_sweep_builds_what_each_cell_says(tiny_h5, tmp_path):
    nets = {
        (depth, norm): network(tiny_h5, tmp_path, f"model.depth={depth}", f"model.norm={norm}")
        for depth, norm in itertools.product((2, 4, 6), ("batch", "none"))
    }
    for (depth, norm), net in nets.items():
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 2 * depth  # two 3x3 convs per block
        if norm == "batch":
            assert count(net, nn.BatchNorm2d) == 2 * depth and count(net, NORMS) == 2 * depth
            assert all(c.bias is None for c in convs)  # the norm's shift replaces the bias
        else:
            assert count(net, NORMS) == 0 and all(c.bias is not None for c in convs)
        # batch norm's scale and shift (2 per channel) replace the conv's bias (1 per channel)
        if norm == "batch":
            extra = sum(c.out_channels for c in convs)
            assert params(net) - params(nets[(depth, "none")]) == extra
        assert net(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    for norm in ("batch", "none"):
        sizes = [params(nets[(d, norm)]) for d in (2, 4, 6)]
        assert sizes == sorted(set(sizes))  # deeper is bigger
    # the group option says the same as the key
    assert str(network(tiny_h5, tmp_path, "norm=none")) == str(nets[(4, "none")])


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_axis_puts_that_activation_after_every_conv(tiny_h5, tmp_path, activation):
    net = network(tiny_h5, tmp_path, f"model.activation={activation}")
    assert count(net, ACTIVATIONS[activation]) == count(net, nn.Conv2d) == 8
    others = tuple(kind for name, kind in ACTIVATIONS.items() if name != activation)
    assert count(net, others) == 0


def test_pooling_axis_changes_how_blocks_downsample(tiny_h5, tmp_path):
    nets = {p: network(tiny_h5, tmp_path, f"model.pooling={p}") for p in ("max", "avg", "stride")}
    assert count(nets["max"], nn.MaxPool2d) == 4 and count(nets["max"], nn.AvgPool2d) == 0
    assert count(nets["avg"], nn.AvgPool2d) == 4 and count(nets["avg"], nn.MaxPool2d) == 0
    stride = nets["stride"]
    assert count(stride, (nn.MaxPool2d, nn.AvgPool2d)) == 0
    assert sum(m.stride == (2, 2) for m in stride.modules() if isinstance(m, nn.Conv2d)) == 4
    assert len({params(n) for n in nets.values()}) == 1  # pooling layers have no weights
    x = torch.zeros(1, 1, 48, 48)
    for net in nets.values():  # each halves the map four times: 48 -> 3
        assert net.forward_features(x).shape[-2:] == (3, 3)
