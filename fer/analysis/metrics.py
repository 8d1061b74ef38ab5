"""Classification metrics from labels, predictions and probabilities, in plain numpy.

Accuracy, balanced accuracy, macro and weighted precision/recall/F1, per-class scores and
support, the confusion matrix, the most frequent confusions, and calibration (expected
calibration error over equal-width confidence bins).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): rows are true classes, columns predictions."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def calibration(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top-class confidence, and the per-bin reliability."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    safe = np.maximum(count, 1)
    accuracy = np.bincount(which, weights=correct, minlength=bins) / safe
    mean_conf = np.bincount(which, weights=confidence, minlength=bins) / safe
    ece = float(np.sum(np.abs(accuracy - mean_conf) * count) / max(len(y_true), 1))
    return {
        "ece": ece,
        "bin_edges": edges,
        "bin_count": count,
        "bin_accuracy": accuracy,
        "bin_confidence": mean_conf,
    }


def classification_report(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str] | tuple[str, ...],
    only: list[int] | None = None,
) -> dict[str, Any]:
    """Everything fer-eval reports, as plain JSON-ready types.

    `only`: the classes the metrics cover (the data's, when a model knows classes the data
    lacks); predictions still range over every class, so predicting an absent class is wrong."""
    k = len(classes)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0
    )
    weights = support / max(support.sum(), 1)
    present = support > 0
    off_diagonal = [
        (int(cm[i, j]), classes[i], classes[j])
        for i in range(k)
        for j in range(k)
        if i != j and cm[i, j] > 0
    ]
    calib = calibration(probs, y_true)
    covered = np.array(sorted(only)) if only is not None else np.arange(k)
    return {
        "n": int(len(y_true)),
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "precision_macro": float(precision[covered].mean()),
        "recall_macro": float(recall[covered].mean()),
        "f1_macro": float(f1[covered].mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
        "ece": calib["ece"],
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
            if i in covered
        },
        "confusion_matrix": cm.tolist(),
        "top_confusions": [
            {"true": t, "predicted": p, "count": n}
            for n, t, p in sorted(off_diagonal, reverse=True)[:10]
        ],
        "reliability": {key: np.asarray(v).tolist() for key, v in calib.items() if key != "ece"},
    }
