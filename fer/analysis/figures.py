"""Figures as PNGs, written atomically: confusion matrices, reliability, faces, per-class bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fer.io import save_figure  # noqa: E402

save = save_figure  # the figures here and elsewhere are saved the one atomic way


def confusion_figure(cm: np.ndarray, classes: list[str], path: Path, title: str = "") -> Path:
    """Counts and row-normalised confusion matrices side by side."""
    cm = np.asarray(cm)
    normalised = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, data, name, fmt in (
        (axes[0], cm, "counts", "d"),
        (axes[1], normalised, "row-normalised (recall)", ".2f"),
    ):
        ax.imshow(data, cmap="Blues")
        ax.set(
            xticks=range(len(classes)),
            yticks=range(len(classes)),
            xlabel="predicted",
            ylabel="true",
            title=f"{title} {name}".strip(),
        )
        ax.set_xticklabels(classes, rotation=45, ha="right")
        ax.set_yticklabels(classes)
        top = data.max() or 1
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    format(data[i, j], fmt),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if data[i, j] > top / 2 else "black",
                )
    return save(fig, path)


def reliability_figure(reliability: dict[str, Any], ece: float, path: Path) -> Path:
    edges = np.asarray(reliability["bin_edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    count = np.asarray(reliability["bin_count"])
    accuracy = np.where(count > 0, reliability["bin_accuracy"], np.nan)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.bar(centres, accuracy, width=edges[1] - edges[0], edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set(
        xlabel="confidence",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"Reliability (ECE {ece:.3f})",
    )
    ax.legend(loc="upper left")
    return save(fig, path)


def per_class_figure(per_class: dict[str, dict[str, float]], path: Path) -> Path:
    classes = list(per_class)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(9, 4))
    for k, metric in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (k - 1) * 0.27, [per_class[c][metric] for c in classes], 0.27, label=metric)
    ax.set_xticks(x, [f"{c}\n(n={per_class[c]['support']})" for c in classes])
    ax.set(ylim=(0, 1), title="Per-class precision, recall, F1")
    ax.legend(ncol=3)
    return save(fig, path)


def face_grid(
    images: np.ndarray,
    captions: list[str],
    path: Path,
    title: str = "",
    cols: int = 8,
    colors: list[str] | None = None,
) -> Path:
    """A grid of faces (grey, or RGB shown in colour) with a caption under each."""
    rows = max(1, int(np.ceil(len(images) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image, caption) in enumerate(zip(axes.flat, images, captions)):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption, fontsize=7, color=colors[i] if colors else "black")
    if title:
        fig.suptitle(title)
    return save(fig, path)
