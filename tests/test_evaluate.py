"""fer-eval and fer-viz on trained runs: metrics, figures, k-fold summary, every architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fer.analysis.visualize import emotion_activation_maps, kernel_mosaic, visualize
from fer.cli.evaluate import main as eval_main
from fer.cli.visualize import main as viz_main

from conftest import trained_run


def test_eval_writes_metrics_and_figures(tiny_run, capsys):
    assert eval_main(["--model", str(tiny_run), "--split", "test", "--no-wandb"]) == 0
    out = tiny_run / "eval" / "test"
    report = json.loads((out / "metrics.json").read_text())
    assert np.sum(report["confusion_matrix"]) == report["n"] == 112
    assert sum(c["support"] for c in report["per_class"].values()) == 112
    for name in ("confusion_matrix", "reliability", "per_class", "misclassified"):
        assert (out / f"{name}.png").stat().st_size > 1000
    run_metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert report["accuracy"] == pytest.approx(
        run_metrics["test"]["acc"], abs=0.02
    )  # bf16 in training
    assert "PrivateTest (112 faces" in capsys.readouterr().out


def test_eval_tta_goes_to_its_own_folder(tiny_run):
    assert (
        eval_main(["--model", str(tiny_run), "--tta", "crops", "--split", "val", "--no-wandb"]) == 0
    )
    assert (
        json.loads((tiny_run / "eval" / "val-tta-crops" / "metrics.json").read_text())["tta"]
        == "crops"
    )


def test_cross_validation_sweep_gives_mean_and_std(tiny_h5, tmp_path, capsys):
    for fold in range(2):
        trained_run(
            tiny_h5,
            tmp_path / str(fold),
            "data.cv_folds=2",
            f"data.cv_fold={fold}",
            "trainer.max_epochs=1",
        )
    assert eval_main(["--model", str(tmp_path), "--split", "val", "--no-wandb"]) == 0
    summary = json.loads((tmp_path / "eval_val_summary.json").read_text())["summary"]
    folds = [
        json.loads((tmp_path / str(f) / "eval" / "val" / "metrics.json").read_text())
        for f in range(2)
    ]
    assert all(f["n"] == 56 for f in folds)  # each held-out fold is half of Training
    assert summary["accuracy"]["mean"] == pytest.approx(np.mean([f["accuracy"] for f in folds]))
    assert summary["accuracy"]["std"] == pytest.approx(np.std([f["accuracy"] for f in folds]))
    assert "accuracy" in capsys.readouterr().out


def test_bad_model_path_is_one_line(tmp_path, capsys):
    assert eval_main(["--model", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.startswith("fer-eval: error:")


@pytest.mark.parametrize(
    "arch",
    [
        [],
        ["model.depth=1", "model.norm=none", "model.pooling=avg"],
        ["model.depth=7", "model.norm=group", "model.pooling=stride", "model.residual=true"],
        ["model.depth=2", "model.pooling=none", "model.head=flatten", "model.activation=gelu"],
    ],
)
def test_viz_works_for_every_architecture(tiny_h5, tmp_path, arch):
    # Width 8, not 4: on AVX2-only CPUs oneDNN's channels-last 1x1 stride-2 convolution with
    # 4 input channels at 48x48 (the residual shortcut) takes minutes per backward pass.
    run_dir = trained_run(tiny_h5, tmp_path / "run", "trainer.max_epochs=1", "model.width=8", *arch)
    figures = visualize(str(run_dir), per_class=2, tsne_samples=60, log_wandb=False)
    from fer.checkpoint import load_model

    model, _ = load_model(run_dir)
    convs = sum(1 for m in model.modules() if m.__class__.__name__ == "Conv2d")
    assert sum(name.startswith("filters_") for name in figures) == convs
    for name in (
        "activations_per_emotion",
        "emotion_activation_maps",
        "class_mean_activations",
        "gradcam",
        "embedding_tsne",
    ):
        assert figures[name].parent == run_dir / "viz" and figures[name].stat().st_size > 1000


def test_viz_without_faces_draws_no_figure_that_shows_a_face(tiny_h5, tmp_path, capsys):
    run_dir = trained_run(tiny_h5, tmp_path / "run", "trainer.max_epochs=1", "model.width=8")
    out = tmp_path / "public"
    argv = ["--model", str(run_dir), "--out", str(out), "--no-wandb", "--no-faces"]
    assert viz_main([*argv, "--per-class", "2", "--tsne-samples", "60"]) == 0
    drawn = {p.stem for p in out.glob("*.png")}
    assert not drawn & {"activations_per_emotion", "gradcam"}  # the two that show faces
    assert {"emotion_activation_maps", "class_mean_activations", "embedding_tsne"} <= drawn
    assert "filters_01" in drawn


def test_emotion_activation_maps_are_class_means_centred_across_classes():
    labels = np.array([0, 0, 1, 2, 2, 2])
    maps = [torch.arange(6 * 2 * 3 * 3, dtype=torch.float32).reshape(6, 2, 3, 3)]
    (stage,) = emotion_activation_maps(maps, labels, num_classes=4)
    channel_mean = maps[0].mean(1)
    class_means = torch.stack(
        [channel_mean[:2].mean(0), channel_mean[2], channel_mean[3:].mean(0), torch.zeros(3, 3)]
    )
    torch.testing.assert_close(stage, class_means - class_means.mean(0))
    torch.testing.assert_close(stage.sum(0), torch.zeros(3, 3), atol=1e-4, rtol=0)


def test_kernel_mosaic_places_each_kernel_scaled_in_its_cell():
    weight = torch.randn(20, 3, 3, 3)
    mosaic = kernel_mosaic(weight)  # 16 output rows (of 20) x 3 input columns, NaN between
    assert mosaic.shape == (16 * 4 - 1, 3 * 4 - 1)
    kernel = weight[5, 2].numpy()
    np.testing.assert_allclose(mosaic[20:23, 8:11], kernel / np.abs(kernel).max(), rtol=1e-6)
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[:, 7]).all()
    first = kernel_mosaic(torch.randn(10, 1, 5, 5))  # one input channel: rows of 8 kernels
    assert first.shape == (2 * 6 - 1, 8 * 6 - 1) and np.isnan(first[6:, 12:]).all()
