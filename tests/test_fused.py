"""Fused inference: same-shaped CNNs run as one grouped network give the ensemble's output."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from fer import Predictor
from fer.modelinfo import ModelInfo
from fer.models.cnn import ConvNet
from fer.models.ensemble import Ensemble
from fer.models.fused import FusedConvNets, fuse_for_inference

from conftest import REPO


def trained_looking(seed: int, **config) -> ConvNet:
    """A ConvNet in eval mode whose batch norms carry non-trivial statistics and affines."""
    torch.manual_seed(seed)
    net = ConvNet(**config)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


INFO = ModelInfo(classes=[f"c{i}" for i in range(7)], input_size=48, mean=0.5, std=0.25, model={})

CONFIGS = [
    {"depth": 4, "width": 8},
    {"depth": 3, "width": 8, "pooling": "avg", "activation": "gelu"},
    {"depth": 2, "width": 8, "pooling": "stride", "norm": "none", "activation": "elu"},
    {"depth": 2, "width": 4, "head": "flatten", "head_hidden": 16, "activation": "silu"},
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
)
def test_fused_ensemble_equals_the_ensemble(config):
    ensemble = Ensemble([trained_looking(seed, **config) for seed in range(3)]).eval()
    fused = fuse_for_inference(ensemble)
    assert isinstance(fused, FusedConvNets) and fused.members == 3
    x = torch.randn(5, 1, 48, 48)
    with torch.inference_mode():
        expected, got = ensemble(x), fused(x)
        members = torch.stack([m(x).softmax(-1) for m in ensemble.members])
    assert not torch.allclose(members[0], members[1], atol=1e-3)  # the members differ
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # Fewer layers: every batch norm is folded into its convolution.
    convs = sum(isinstance(m, nn.Conv2d) for m in fused.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert convs == sum(isinstance(m, nn.Conv2d) for m in ensemble.members[0].modules())


def test_a_single_cnn_fuses_to_its_own_log_probabilities():
    net = trained_looking(0, depth=4, width=8)
    x = torch.randn(4, 1, 48, 48)
    with torch.inference_mode():
        torch.testing.assert_close(
            fuse_for_inference(net)(x), net(x).log_softmax(-1), atol=1e-4, rtol=1e-4
        )


@pytest.mark.parametrize(
    "models",
    [
        [{"depth": 2, "width": 8, "residual": True}],
        [{"depth": 2, "width": 8, "norm": "group"}],
        [{"depth": 2, "width": 8}, {"depth": 2, "width": 16}],  # members that differ
        [{"depth": 2, "width": 8}, {"depth": 2, "width": 8, "activation": "gelu"}],
    ],
    ids=["residual", "group-norm", "widths-differ", "activations-differ"],
)
def test_what_cannot_be_fused_runs_as_it_is(models):
    ensemble = Ensemble([trained_looking(i, **c) for i, c in enumerate(models)]).eval()
    assert fuse_for_inference(ensemble) is None
    predictor = Predictor(ensemble, INFO, device="cpu")
    assert predictor.net is predictor.model
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    assert np.allclose(predictor.predict_faces(faces, tta="none").sum(1), 1, atol=1e-5)


def test_a_model_in_training_mode_is_not_fused():
    net = trained_looking(0, depth=2, width=8).train()
    assert fuse_for_inference(net) is None


def test_the_predictor_classifies_with_the_fused_network():
    """A Predictor's fused network gives the unfused ensemble's probabilities, face by face."""
    ensemble = Ensemble([trained_looking(s, depth=4, width=8) for s in range(2)])
    # Compared in fp32: in bf16 the two paths round differently.
    predictor = Predictor(ensemble, INFO, device="cpu", precision="32-true")
    assert isinstance(predictor.net, FusedConvNets)
    faces = np.random.default_rng(1).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    fused = predictor.predict_faces(faces, tta="crops")
    predictor.net = predictor.model
    plain = predictor.predict_faces(faces, tta="crops")
    np.testing.assert_allclose(fused, plain, atol=1e-5)
    assert math.isclose(float(fused.sum()), 6.0, rel_tol=1e-5)


def test_in_bf16_the_fused_weights_are_cast_once_and_agree():
    ensemble = Ensemble([trained_looking(s, depth=4, width=8) for s in range(2)])
    predictor = Predictor(ensemble, INFO, device="cpu", precision="bf16-mixed")
    assert {p.dtype for p in predictor.net.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in predictor.model.parameters()} == {torch.float32}  # left as loaded
    faces = np.random.default_rng(2).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    fused = predictor.predict_faces(faces, tta="none")
    exact = Predictor(ensemble, INFO, device="cpu", precision="32-true").predict_faces(faces)
    np.testing.assert_allclose(fused, exact, atol=0.03)


def test_bench_predict_times_the_shipped_model_both_ways(tmp_path):
    from conftest import face_photo

    photo = str(face_photo())
    done = subprocess.run(
        [
            sys.executable,
            "scripts/bench/bench_predict.py",
            "--repeats",
            "3",
            "--photos",
            photo,
            "--photo-repeats",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    header, *rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert header == ["precision", "network", "tta", "none", "tta", "crops", "detected", "photo"]
    # "as loaded"; the shipped model's ONNX export on onnxruntime last
    assert [row[1] for row in rows] == ["fused", "as", "fused", "as", "onnxrt"]
    assert [row[0] for row in rows][2:] == ["32-true", "32-true", "32-true"]
    assert all(row.count("ms") == 4 for row in rows)  # a time in every column, none left out
    missing = subprocess.run(
        [
            sys.executable,
            "scripts/bench/bench_predict.py",
            "--model",
            str(tmp_path / "none.safetensors"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("bench_predict: error:") and "Traceback" not in missing.stderr


def test_a_compiled_predictor_gives_the_eager_probabilities():
    """`Predictor.compile` compiles a face alone and one face's crops views; those batches and
    any other (run eagerly) give what the eager network gives."""
    ensemble = Ensemble([trained_looking(s, depth=3, width=8) for s in range(2)])
    predictor = Predictor(ensemble, INFO, device="cpu", precision="32-true")
    faces = np.random.default_rng(3).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    eager = [predictor.predict_faces(faces[:1], tta=t) for t in ("none", "crops")]
    eager.append(predictor.predict_faces(faces, tta="none"))  # a batch of 3: not compiled

    compiled = predictor.compile(tta="crops")
    assert compiled.compiled and compiled.sizes == {1, 10}
    again = [predictor.predict_faces(faces[:1], tta=t) for t in ("none", "crops")]
    again.append(predictor.predict_faces(faces, tta="none"))
    for a, b in zip(eager, again):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="unknown tta"):
        predictor.compile(tta="mirror")
