"""Pretrained CNNs, the ViT, Hugging Face backbones, SimCLR pretraining, init_from and freezing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf
from test_training import assert_metrics_are_the_predictions

from fer.checkpoint import load_model
from fer.cli.compare import main as compare_main
from fer.models import build_model
from fer.models.torchvision import PretrainedWeightsError
from fer.ssl.simclr import knn_accuracy, nt_xent
from fer.transfer import param_groups, prepare_for_training, read_encoder

from conftest import QUIET, REPO, compose_config, config, read_metrics, trained_run

SMALL = {
    "cnn": {"name": "cnn", "width": 8},
    "resnet18": {"name": "torchvision", "arch": "resnet18", "resize": 32},
    "mobilenet_v3_small": {"name": "torchvision", "arch": "mobilenet_v3_small", "resize": 32},
    "vit": {"name": "vit", "dim": 32, "depth": 2, "heads": 2, "patch_size": 8},
}


@pytest.mark.parametrize("name", list(SMALL))
def test_every_model_has_the_shared_parts(name):
    net = build_model(SMALL[name]).eval()
    x = torch.randn(3, 1, 48, 48)
    assert net(x).shape == (3, 7)
    assert net.embed(x).shape == (3, net.num_features)
    torch.testing.assert_close(net.forward_head(net.forward_features(x)), net(x))
    backbone = {id(p) for p in net.backbone.parameters()}
    assert backbone and backbone < {id(p) for p in net.parameters()}  # the head is not in it


def test_param_groups_give_the_backbone_its_own_rate_and_leave_frozen_parts_out():
    net = build_model(SMALL["cnn"])
    head, backbone = param_groups(net, lr=0.1, backbone_lr_mult=0.1)
    assert head["lr"] == 0.1 and backbone["lr"] == pytest.approx(0.01)
    assert sum(p.numel() for g in (head, backbone) for p in g["params"]) == sum(
        p.numel() for p in net.parameters()
    )
    prepare_for_training(net, {"name": "cnn", "freeze": True})
    (only,) = param_groups(net, lr=0.1, backbone_lr_mult=0.1)
    assert {id(p) for p in only["params"]} == {id(p) for p in net.head.parameters()}


def test_weights_path_loads_a_local_torchvision_state_dict(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    config = {**SMALL["resnet18"], "pretrained": True, "weights_path": str(tmp_path / "r.pth")}
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        prepare_for_training(build_model(config), config)
    config["weights_path"] = str(tmp_path / "resnet18.pth")
    net = prepare_for_training(build_model(config), config)
    torch.testing.assert_close(net.backbone[0].weight, reference.conv1.weight)
    torch.testing.assert_close(net.backbone[7][1].conv2.weight, reference.layer4[1].conv2.weight)
    wrong = {**config, "arch": "mobilenet_v3_small"}
    with pytest.raises(PretrainedWeightsError, match="not mobilenet_v3_small weights"):
        prepare_for_training(build_model(wrong), wrong)


def test_pretrained_on_a_model_without_weights_says_what_to_do():
    with pytest.raises(ValueError, match="init_from"):
        prepare_for_training(build_model(SMALL["vit"]), {"name": "vit", "pretrained": True})


def _train_py(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_vgg16_pretrained_without_cached_weights_fails_fast(tmp_path, tiny_h5):
    # An empty torch cache and a proxy that refuses connections: no download can succeed,
    # whether or not the machine has a network.
    env = {"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9"}
    env["HTTPS_PROXY"] = env["https_proxy"]
    result = _train_py(
        "model=vgg16",
        "model.pretrained=true",
        f"data.path={tiny_h5}",
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        env=env,
    )
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("train.py: error: PretrainedWeightsError: cannot load pretrained vgg16")
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in error
    assert "model.weights_path=" in error and "Traceback" not in result.stderr


def test_hf_backbone_from_a_local_directory_trains_and_reloads(tmp_path, tiny_h5):
    from transformers import ViTConfig, ViTModel

    hub = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    reference = ViTModel(hub)
    reference.save_pretrained(tmp_path / "tiny-vit")
    run_dir = trained_run(
        tiny_h5, tmp_path / "run", "model=hf", f"model.name_or_path={tmp_path / 'tiny-vit'}"
    )
    assert read_metrics(run_dir)["status"] == "completed"
    model, info = load_model(run_dir)
    assert info.model["name"] == "hf" and model.resize == 32
    x = torch.randn(2, 1, 48, 48)
    assert model(x).shape == (2, 7)
    # pretrained=true put the saved weights into the backbone before training
    config = {"name": "hf", "name_or_path": str(tmp_path / "tiny-vit"), "pretrained": True}
    net = prepare_for_training(build_model(config), config)
    torch.testing.assert_close(
        net.backbone.embeddings.patch_embeddings.projection.weight,
        reference.embeddings.patch_embeddings.projection.weight,
    )


def test_hf_hub_id_offline_without_a_cache_fails_fast(tmp_path, tiny_h5):
    result = _train_py(
        "model=hf",
        "model.name_or_path=nobody/no-such-model",
        f"data.path={tiny_h5}",
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert "cannot load Hugging Face model 'nobody/no-such-model'" in error
    assert "model.name_or_path=DIR" in error


def test_nt_xent_rewards_matching_views():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    matched = nt_xent(z, z + 0.01 * torch.randn_like(z), temperature=0.2)
    shuffled = nt_xent(z, torch.randn(16, 8), temperature=0.2)
    assert matched < shuffled
    # identical embeddings everywhere: every other view is equally likely, log(2B - 1)
    same = nt_xent(torch.ones(16, 8), torch.ones(16, 8), temperature=0.5)
    assert same.item() == pytest.approx(torch.log(torch.tensor(31.0)).item(), rel=1e-4)


def test_knn_accuracy_on_separated_and_on_random_embeddings():
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 5
    labels = torch.arange(3).repeat_interleave(20)
    points = centres[labels] + torch.randn(60, 16)
    assert knn_accuracy(points[::2], labels[::2], points[1::2], labels[1::2], k=5) == 1.0
    random = knn_accuracy(torch.randn(300, 16), labels.repeat(5), points, labels, k=5)
    assert random < 0.7


def pretrain_config(tiny_h5, run_dir, *overrides):
    return compose_config(
        "pretrain",
        tiny_h5,
        run_dir,
        "data.batch_size=32",
        "ssl.knn_bank=64",
        "trainer.max_epochs=2",
        *overrides,
    )


@pytest.fixture(scope="module")
def pretrained(tiny_h5, tmp_path_factory):
    from fer.pretrain import run

    run_dir = tmp_path_factory.mktemp("pretrain") / "run"
    run(pretrain_config(tiny_h5, run_dir, "model.width=8"))
    return run_dir


def test_pretrain_writes_an_encoder_and_a_knn_score(pretrained):
    metrics = read_metrics(pretrained)
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    # the record's score is the last epoch's logged one, a count of PublicTest's 112 faces
    header, *rows = (pretrained / "csv" / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("val/knn_acc")
    logged = [float(r.split(",")[column]) for r in rows if r.split(",")[column]]
    assert len(logged) == 2 and metrics["knn_acc"] == pytest.approx(logged[-1])
    assert metrics["knn_acc"] * 112 == pytest.approx(round(metrics["knn_acc"] * 112), abs=1e-4)
    state, meta = read_encoder(pretrained)
    assert meta["method"] == "simclr" and meta["model"]["width"] == 8
    assert "init_from" not in meta["model"]  # architecture only
    assert all(k.startswith(("0.", "1.", "2.", "3.")) for k in state)  # the conv blocks
    assert (pretrained / "csv" / "metrics.csv").read_text().count("val/knn_acc")


def test_linear_probe_from_the_encoder_trains_only_the_head(pretrained, tmp_path, tiny_h5):
    from fer.train import run

    state, _ = read_encoder(pretrained)
    cfg = config(
        tiny_h5,
        tmp_path / "probe",
        f"model.init_from={pretrained}",
        "model.freeze=true",
        "trainer.max_epochs=3",
        "augment=none",
    )
    record = run(cfg)
    assert record["status"] == "completed"
    assert_metrics_are_the_predictions(tmp_path / "probe", "test", record["test"])
    model, _ = load_model(tmp_path / "probe")
    after = model.backbone.state_dict()
    for key, value in state.items():  # weights and norm statistics untouched
        torch.testing.assert_close(after[key], value, msg=key)
    fresh = build_model({"name": "cnn", "width": 8})
    assert not torch.equal(model.head[-1].weight, fresh.head[-1].weight)


def test_fine_tuning_from_the_encoder_changes_the_backbone(pretrained, tmp_path, tiny_h5):
    from fer.train import run

    state, _ = read_encoder(pretrained)
    run(config(tiny_h5, tmp_path / "ft", f"model.init_from={pretrained}", "augment=none"))
    after = load_model(tmp_path / "ft")[0].backbone.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in state.items() if k.endswith("weight"))


def test_init_from_a_different_architecture_is_refused_clearly(pretrained, tmp_path, tiny_h5):
    from fer.train import run

    cfg = config(tiny_h5, tmp_path / "bad", f"model.init_from={pretrained}", "model.width=16")
    with pytest.raises(ValueError, match="does not fit this run's model"):
        run(cfg)


def test_vit_pretrains_and_probes_too(tmp_path, tiny_h5, capsys):
    from fer.pretrain import run as pretrain
    from fer.train import run

    vit = ["model=vit", "model.dim=32", "model.depth=2", "model.heads=2", "model.patch_size=8"]
    pretrain(pretrain_config(tiny_h5, tmp_path / "pre", *vit, "trainer.max_epochs=1"))
    cfg = config(
        tiny_h5,
        tmp_path / "probe",
        *vit,
        f"model.init_from={tmp_path / 'pre'}",
        "model.freeze=true",
    )
    assert run(cfg)["status"] == "completed"
    # fer-viz draws CNN stages: a ViT is refused at once, in one line
    from fer.cli.visualize import main as viz_main

    assert viz_main(["--model", str(tmp_path / "probe"), "--no-wandb"]) == 1
    assert "needs a staged CNN" in capsys.readouterr().err


def test_sweep_over_cnn_resnet18_and_vit_gives_one_comparison_table(tmp_path, tiny_h5):
    sweep = tmp_path / "sweep"
    result = _train_py(
        "-m",
        "model=cnn,resnet18,vit",
        "++model.pretrained=false",
        f"data.path={tiny_h5}",
        "logger=csv",
        "trainer.max_epochs=1",
        "data.num_workers=0",
        "figures=false",
        *QUIET,
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert compare_main([str(sweep), "--out", str(tmp_path / "c")]) == 0
    table = (tmp_path / "c" / "comparison.md").read_text()
    for model in ("cnn", "resnet18", "vit"):
        assert f"| {model} |" in table
    assert table.count("| completed |") == 3
    params = {
        OmegaConf.load(sweep / str(i) / ".hydra" / "config.yaml").model.name: read_metrics(
            sweep / str(i)
        )["params"]
        for i in range(3)
    }
    assert params["torchvision"] > 10_000_000 > params["cnn"]  # resnet18 really is resnet18
