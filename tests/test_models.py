"""The configurable CNN over its whole ablation grid, and its refusals."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from fer.data.augment import build_augment
from fer.models import build_model, model_names
from fer.models.base import BackboneClassifier
from fer.models.cnn import ConvNet, downsampling_blocks
from fer.models.factory import model_builder
from fer.models.layers import ACTIVATIONS, NORMS, POOLINGS

from conftest import REPO, compose_config


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", range(1, 9))
def test_every_norm_activation_pooling_builds_and_runs(depth):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 48, 48)
    for norm, activation, pooling in itertools.product(NORMS, ACTIVATIONS, POOLINGS):
        model = ConvNet(
            depth=depth,
            width=4,
            convs_per_block=1,
            norm=norm,
            activation=activation,
            pooling=pooling,
        ).train()
        features = model.forward_features(x)
        logits = model.forward_head(features)
        assert logits.shape == (2, 7), (norm, activation, pooling)
        assert torch.isfinite(logits).all(), (norm, activation, pooling)
        side = 48 if pooling == "none" else 48 // 2 ** min(depth, 4)
        assert features.shape[-1] == side >= 3
        logits.sum().backward()  # trains: gradients flow to the first conv
        assert model.blocks[0].body[0].weight.grad.abs().sum() > 0


def test_downsampling_never_collapses_the_map():
    for depth in range(1, 13):
        plan = downsampling_blocks(depth)
        assert len(plan) == depth and sum(plan) == min(depth, 4) and plan[-1]


def test_parameters_grow_with_depth_and_width():
    by_depth = [params(ConvNet(depth=d, width=8)) for d in range(1, 9)]
    assert by_depth == sorted(by_depth) and len(set(by_depth)) == 8
    by_width = [params(ConvNet(width=w)) for w in (8, 16, 32, 64)]
    assert by_width == sorted(by_width) and len(set(by_width)) == 4


def test_default_is_the_vgg_style_32_to_256_net():
    model = ConvNet()
    assert [b.body[0].out_channels for b in model.blocks] == [32, 64, 128, 256]
    assert 1_100_000 < params(model) < 1_250_000


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("residual", [False, True])
def test_heads_and_residual(head, residual):
    model = build_model({"name": "cnn", "depth": 3, "width": 8, "head": head, "residual": residual})
    assert model(torch.randn(3, 1, 48, 48)).shape == (3, 7)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"norm": "batchnorm"}, "valid choices: batch, group, layer, instance, none"),
        ({"activation": "swish"}, "valid choices: relu, leaky_relu"),
        ({"pooling": "min"}, "valid choices: max, avg, stride, none"),
        ({"depth": 0}, "model.depth must be a positive integer"),
        ({"dropout": -0.1}, "model.dropout must be in [0, 1)"),
        ({"kernel_size": 4}, "odd"),
        ({"name": "resnet9000"}, "unknown model 'resnet9000'; valid choices: cnn"),
        ({"colour": True}, "unexpected keyword argument 'colour'"),
    ],
)
def test_invalid_values_are_refused_with_the_choices(override, message):
    with pytest.raises(ValueError, match=None) as error:
        build_model({"name": "cnn", **override})
    assert message in str(error.value)


CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_recipe_composes(recipe, tmp_path):
    cfg = compose_config("train", "x.h5", tmp_path, f"experiment={recipe}")
    assert cfg.trainer.max_epochs >= 1 and cfg.optimizer.lr > 0
    assert build_augment(OmegaConf.to_container(cfg.augment)) is not None


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (CONF / "model").glob("*.yaml") if p.stem != "hf")
)
def test_every_model_config_builds_and_classifies_a_face(name, tmp_path):
    """Every model= choice (hf needs a hub id or local files: test_transfer covers it)."""
    cfg = compose_config("train", "x.h5", tmp_path, f"model={name}", "++model.pretrained=false")
    model = build_model(OmegaConf.to_container(cfg.model)).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        # One model contract: backbone, head, forward_features -> forward_head, embed.
        assert isinstance(model, BackboneClassifier)
        assert isinstance(model.backbone, torch.nn.Module) and isinstance(
            model.head, torch.nn.Module
        )
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), model(x))
        assert model.embed(x).shape[0] == 2 and model.embed(x).dim() == 2


def test_every_registered_model_builds_from_its_own_config(tmp_path):
    """A model is two files: fer/models/<name>.py (registered there) and conf/model/<name>.yaml.
    Every model module registers its own name and has its yaml; every yaml names a model that
    exists (the ensemble is built from its members' configs, by fer.checkpoint, not a yaml)."""
    names = model_names()
    assert {"cnn", "vit", "torchvision", "hf", "ensemble"} <= set(names)
    yamls = {
        p.stem: OmegaConf.to_container(
            compose_config("train", "x.h5", tmp_path, f"model={p.stem}").model
        )
        for p in (CONF / "model").glob("*.yaml")
    }
    assert {y["name"] for y in yamls.values()} <= set(names)
    for name in names:
        assert callable(model_builder(name))  # registered under its module's name
        if name == "ensemble":
            member = {"name": "cnn", "width": 4, "depth": 1}
            model = build_model({"name": "ensemble", "members": [member, member]})
        elif name == "hf":
            continue  # needs a hub id or local files: test_transfer builds it
        else:
            assert name in yamls, f"conf/model/{name}.yaml missing"
            model = build_model(yamls[name] | {"pretrained": False})
        with torch.no_grad():
            assert model.eval()(torch.randn(1, 1, 48, 48)).shape == (1, 7)
    with pytest.raises(ValueError, match="unknown model 'nope'; valid choices: .*cnn"):
        build_model({"name": "nope"})


@pytest.mark.parametrize(
    ("group", "values"),
    [("norm", NORMS), ("activation", tuple(ACTIVATIONS)), ("pooling", POOLINGS)],
)
def test_every_axis_value_has_its_group_shortcut_and_no_other(group, values):
    """`activation=mish` and `model.activation=mish` accept the same values."""
    conf = Path(__file__).resolve().parents[1] / "conf" / group
    assert sorted(p.stem for p in conf.glob("*.yaml")) == sorted(values)
    for value in values:
        assert OmegaConf.load(conf / f"{value}.yaml")[group] == value


def test_a_combination_that_cannot_be_built_fails_before_the_run_in_one_line(tiny_h5, tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "train.py", "model=vit", "norm=group", f"data.path={tiny_h5}"]
        + [f"hydra.run.dir={run_dir}", "logger=none"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1 and line.startswith("train.py: error: model=vit takes no norm")
    assert not (run_dir / "metrics.json").exists()
