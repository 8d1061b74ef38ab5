"""Distillation targets: a teacher's probabilities on the training faces (e.g. the shipped
ensemble's), mixed with the labels and written as a dataset file that `data.targets=soft`
trains on, so one small model can learn what several models agree on.

    target = (1 - alpha) * onehot(label) + alpha * soften(teacher, temperature)

Only the training split gets teacher targets; the other splits keep their labels (as one-hot
rows), so selection and reporting stay on the real labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from fer.data.hdf5 import DatasetError, dataset_meta, read_split, write_dataset

Teacher = Callable[[np.ndarray], np.ndarray]  # uint8 faces (N, S, S) -> probabilities (N, C)


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at another temperature: softmax(log p / T); T > 1 flattens them."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    logp = np.log(np.clip(probs, 1e-12, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def mix_targets(
    probs: np.ndarray, labels: np.ndarray, alpha: float, temperature: float = 1.0
) -> np.ndarray:
    """(1 - alpha) * one-hot labels + alpha * softened teacher probabilities, float32 (N, C)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], not {alpha}")
    onehot = np.eye(probs.shape[1], dtype=np.float64)[labels]
    return ((1 - alpha) * onehot + alpha * soften(probs, temperature)).astype(np.float32)


def write_distilled(
    source: Path,
    output: Path,
    teacher: Teacher,
    classes: tuple[str, ...],
    alpha: float = 0.5,
    temperature: float = 1.0,
    teacher_name: str = "teacher",
) -> dict[str, float]:
    """Copy the dataset `source` to `output` (atomically) with distillation targets on its
    training split; returns what the teacher scored there (its accuracy, mean confidence)."""
    meta = dataset_meta(source)
    if tuple(meta.classes) != tuple(classes):
        raise DatasetError(
            f"{source}: its classes are {', '.join(meta.classes)}, the teacher's "
            f"{', '.join(classes)}"
        )
    train = meta.split_for("train")
    splits = {split: read_split(source, split, classes=None) for split in meta.splits}
    images, labels = splits[train]
    probs = teacher(images)
    eye = np.eye(len(classes), dtype=np.float32)
    votes = {split: eye[splits[split][1]] for split in meta.splits}
    votes[train] = mix_targets(probs, labels, alpha, temperature)
    write_dataset(
        output,
        splits,
        f"{source.name} with {teacher_name}'s targets (alpha {alpha}, T {temperature})",
        source_digest(source),
        meta,
        votes=votes,
    )
    return {
        "teacher_train_accuracy": float((probs.argmax(1) == labels).mean()),
        "teacher_mean_confidence": float(probs.max(1).mean()),
    }


def source_digest(path: Path) -> str:
    """The source_sha256 a dataset file records (its original download's), or ''."""
    with h5py.File(path, "r") as f:
        return str(f.attrs.get("source_sha256", ""))
