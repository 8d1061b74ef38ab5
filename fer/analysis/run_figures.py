"""What every run records at its end: fer-eval's report and figures on test (one routine,
`fer.analysis.scoring`), example predictions and the filters.

The figures are PNGs in RUN_DIR/figures/, so nothing depends on W&B to be seen; when the run
logs to W&B the same results go there too (an interactive confusion matrix, tables, images and
the best checkpoint as an artifact).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer.analysis.figures import face_grid
from fer.analysis.scoring import score_faces
from fer.analysis.visualize import filter_figures
from fer.inference.predictor import Predictor

SAMPLES = 16  # right and wrong test predictions each, in the figure and the W&B table
MAX_FILTER_FIGURES = 8  # conv layers drawn at the end of a run: all of the default CNN's


@dataclass
class RunFigures:
    report: dict[str, Any]
    probs: np.ndarray  # (N, K) test probabilities
    samples: np.ndarray  # indices of the example predictions
    paths: dict[str, Path]


def write_run_figures(
    run_dir: Path, checkpoint: Path, images: np.ndarray, labels: np.ndarray
) -> RunFigures:
    """Predict the test set with the selected checkpoint and write the figures."""
    predictor = Predictor.load(checkpoint)
    classes = list(predictor.classes)
    out = run_dir / "figures"
    scored = score_faces(predictor, images, labels, out, "test")  # what fer-eval draws too
    report, probs, paths = scored.report, scored.probs, dict(scored.figures)
    pred = probs.argmax(1)
    rng = np.random.default_rng(0)
    right, wrong = np.flatnonzero(pred == labels), np.flatnonzero(pred != labels)
    samples = np.concatenate([rng.permutation(right)[:SAMPLES], rng.permutation(wrong)[:SAMPLES]])
    paths["predictions"] = face_grid(
        images[samples],
        [f"{classes[labels[i]]} → {classes[pred[i]]} {probs[i, pred[i]]:.0%}" for i in samples],
        out / "predictions.png",
        "Test predictions: true → predicted (green right, red wrong)",
        colors=["green" if pred[i] == labels[i] else "red" for i in samples],
    )
    paths.update(filter_figures(predictor.model, out, limit=MAX_FILTER_FIGURES))
    return RunFigures(report, probs, samples, paths)


def log_run_figures(
    experiment: Any, figures: RunFigures, images: np.ndarray, labels: np.ndarray, checkpoint: Path
) -> None:
    """Mirror the figures into a W&B run: interactive confusion matrix, tables, images, artifact."""
    import wandb

    classes = list(figures.report["per_class"])
    pred = figures.probs.argmax(1)
    per_class = wandb.Table(
        columns=["class", "precision", "recall", "f1", "support"],
        data=[
            [c, m["precision"], m["recall"], m["f1"], m["support"]]
            for c, m in figures.report["per_class"].items()
        ],
    )
    predictions = wandb.Table(
        columns=["face", "true", "predicted", "confidence", "correct", *classes]
    )
    for i in figures.samples:
        predictions.add_data(
            wandb.Image(images[i]),
            classes[labels[i]],
            classes[pred[i]],
            float(figures.probs[i, pred[i]]),
            bool(pred[i] == labels[i]),
            *map(float, figures.probs[i]),
        )
    experiment.log(
        {
            "test/confusion_matrix": wandb.plot.confusion_matrix(
                y_true=labels.tolist(), preds=pred.tolist(), class_names=classes
            ),
            "test/per_class": per_class,
            "test/predictions": predictions,
            **{f"figures/{name}": wandb.Image(str(path)) for name, path in figures.paths.items()},
        }
    )
    artifact = wandb.Artifact(
        f"model-{experiment.id}", type="model", metadata={"test_acc": figures.report["accuracy"]}
    )
    artifact.add_file(str(checkpoint), name="best.ckpt")
    experiment.log_artifact(artifact, aliases=["best"])
