"""The one evaluation routine: a model's predictions on labelled faces, the report and its figures.

fer-eval (`evaluate.py`) and the end of every training run (`run_figures.py`) both call
`score_faces`, so a run's own figures and a later fer-eval show the same numbers drawn the same
way: `confusion_matrix.png`, `per_class.png`, `reliability.png` and `misclassified.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer.analysis.figures import confusion_figure, face_grid, per_class_figure, reliability_figure
from fer.analysis.metrics import classification_report
from fer.inference.predictor import Predictor

MISCLASSIFIED = 32  # faces in misclassified.png


@dataclass
class Scored:
    report: dict[str, Any]  # classification_report: what metrics.json holds
    probs: np.ndarray  # (N, K) probabilities
    figures: dict[str, Path]


def score_faces(
    predictor: Predictor,
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: Path,
    title: str,
    tta: str = "none",
    only: list[int] | None = None,
) -> Scored:
    """Predict `images` (labels in the predictor's class indices), report and draw.

    `only`: the classes the metrics cover (cross-dataset: those the data has)."""
    classes = list(predictor.classes)
    probs = predictor.predict_faces(images, tta=tta)
    report = classification_report(labels, probs, classes, only=only)
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != labels)[:MISCLASSIFIED]
    figures = {
        "confusion_matrix": confusion_figure(
            np.array(report["confusion_matrix"]), classes, out_dir / "confusion_matrix.png", title
        ),
        "per_class": per_class_figure(report["per_class"], out_dir / "per_class.png"),
        "reliability": reliability_figure(
            report["reliability"], report["ece"], out_dir / "reliability.png"
        ),
        "misclassified": face_grid(
            images[wrong],
            [f"{classes[labels[i]]} → {classes[pred[i]]}\n{probs[i, pred[i]]:.0%}" for i in wrong],
            out_dir / "misclassified.png",
            "Misclassified: true → predicted (confidence)",
        ),
    }
    return Scored(report, probs, figures)
