"""A run's per-image predictions: `RUN_DIR/predictions/{val,test}.npz`.

Training writes them once, from the selected checkpoint's final validation and test (the same
predictions its metrics.json reports), so comparisons can pair runs image by image without
predicting again. Each file holds `labels` (int64, N), `probs` (float32, N×C) and `index`
(int64, N: the image's row in its HDF5 split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.io import atomic_path

SPLITS = ("val", "test")


def write_predictions(
    path: str | Path, index: np.ndarray, predictions: dict[str, np.ndarray]
) -> None:
    """Write labels, probs and index to `path` atomically; they must have one row per image."""
    labels, probs = predictions["labels"], predictions["probs"]
    if not len(labels) == len(probs) == len(index):
        raise ValueError(
            f"{path}: {len(labels)} labels, {len(probs)} probability rows, {len(index)} indices"
        )
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(
            f,
            labels=labels.astype(np.int64),
            probs=probs.astype(np.float32),
            index=np.asarray(index, np.int64),
        )


def read_predictions(run_dir: str | Path, split: str) -> dict[str, np.ndarray] | None:
    """A run's predictions on `split` (val or test), or None if the run has none."""
    path = Path(run_dir) / "predictions" / f"{split}.npz"
    if not path.is_file():
        return None
    with np.load(path) as f:
        return {k: f[k] for k in ("labels", "probs", "index")}
