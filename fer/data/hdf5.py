"""The FER2013 HDF5 file: one group per usage with `images` (uint8 Nx48x48) and `labels` (int64 N).

Root attributes: `classes` (CLASSES, the CSV's order), `source`, `source_sha256`,
`format_version`. Conversion writes it once; training and evaluation only read it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from fer.io import atomic_path
from fer.labels import CLASSES, USAGES

FORMAT_VERSION = 1


class DatasetError(Exception):
    """The HDF5 file is missing or not one that `fer-prepare` wrote."""


def write_dataset(
    path: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], source: str, sha256: str
) -> None:
    """Write the splits {usage: (images, labels)} to `path` atomically (temporary file, rename)."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["classes"] = list(CLASSES)
            f.attrs["source"] = source
            f.attrs["source_sha256"] = sha256
            f.attrs["format_version"] = FORMAT_VERSION
            for usage in USAGES:
                images, labels = splits[usage]
                group = f.create_group(usage)
                group.create_dataset("images", data=images.astype(np.uint8), chunks=True)
                group.create_dataset("labels", data=labels.astype(np.int64))


def open_dataset(path: str | Path) -> h5py.File:
    """Open a fer HDF5 file for reading, checking its format; DatasetError says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such dataset file; convert FER2013 first: fer-prepare SOURCE -o {path}"
        )
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file") from None
    classes = [str(c) for c in f.attrs.get("classes", [])]
    if classes != list(CLASSES) or any(u not in f for u in USAGES):
        f.close()
        raise DatasetError(f"{path}: not a fer dataset (re-create it with fer-prepare)")
    return f


def read_split(path: str | Path, usage: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one usage fully into memory: (uint8 (N, 48, 48), int64 (N,))."""
    with open_dataset(path) as f:
        return f[usage]["images"][:], f[usage]["labels"][:]


def dataset_info(path: str | Path) -> dict[str, np.ndarray]:
    """Counts per class for each usage: {usage: int array of len(CLASSES)}."""
    with open_dataset(path) as f:
        return {u: np.bincount(f[u]["labels"][:], minlength=len(CLASSES)) for u in USAGES}
