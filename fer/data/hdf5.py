"""The dataset file: one HDF5 per labelled face set, one group per split with `images` (uint8,
N×S×S grey or N×S×S×3 colour) and `labels` (int64 N, indices into the file's classes).

Format 2 keeps in the root attributes what the data is: `classes`, `image_size`, `channels`,
`splits` (the group names), `roles` (which split trains, selects and reports: `train`, `val`,
`test`, as JSON; a split may be missing, e.g. an evaluation-only set has only `test`), `name`,
`source`, `source_sha256` (the download's), `content_sha256` (the arrays': what a run records, so
two files with the same faces and labels hash alike however they were made). Format 1 files
(FER2013 before format 2) still open, read as FER2013.
`fer-prepare` writes a file once; training and evaluation only read it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from fer.fer2013 import CHANNELS, CLASSES, IMAGE_SIZE, MEAN, STD, USAGES
from fer.io import atomic_path

FORMAT_VERSION = 2
ROLES = ("train", "val", "test")


class DatasetError(Exception):
    """The HDF5 file is missing or not one that `fer-prepare` wrote."""


@dataclass(frozen=True)
class DatasetMeta:
    """What a dataset file holds."""

    classes: tuple[str, ...] = CLASSES
    image_size: int = IMAGE_SIZE
    channels: int = CHANNELS
    splits: tuple[str, ...] = USAGES
    roles: dict[str, str] = field(
        default_factory=lambda: dict(zip(ROLES, USAGES))  # FER2013: train, select, report
    )
    name: str = "fer2013"
    # The standardisation of its faces (pixels in [0, 1]); FER2013's unless a file says otherwise,
    # so models fine-tuned from FER2013 weights see faces as they were trained on.
    mean: float = MEAN
    std: float = STD

    def split_for(self, role: str) -> str:
        """The split that plays `role` (train, val, test); DatasetError if there is none."""
        split = self.roles.get(role)
        if split is None:
            raise DatasetError(
                f"the {self.name} data has no {role} split (it has: {', '.join(self.splits)})"
            )
        return split


FER2013_FILE = DatasetMeta()  # what a FER2013 file holds


def write_dataset(
    path: Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    source: str,
    sha256: str,
    meta: DatasetMeta = FER2013_FILE,
    votes: dict[str, np.ndarray] | None = None,
) -> None:
    """Write the splits {name: (images, labels)} to `path` atomically (temporary file, rename);
    `votes`: per split, each face's label distribution (N, classes), e.g. FER+'s annotators.
    The file is built in memory and then written: HDF5 writing straight to a full disk can
    crash the process (a segfault); a plain write fails with OSError (ENOSPC) instead."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["classes"] = list(meta.classes)
        f.attrs["image_size"] = meta.image_size
        f.attrs["channels"] = meta.channels
        f.attrs["splits"] = list(meta.splits)
        f.attrs["roles"] = json.dumps(meta.roles)
        f.attrs["name"] = meta.name
        f.attrs["mean"], f.attrs["std"] = meta.mean, meta.std
        f.attrs["source"] = source
        f.attrs["source_sha256"] = sha256
        f.attrs["content_sha256"] = content_sha256({split: splits[split] for split in meta.splits})
        for split in meta.splits:
            images, labels = splits[split]
            group = f.create_group(split)
            group.create_dataset("images", data=images.astype(np.uint8), chunks=True)
            group.create_dataset("labels", data=labels.astype(np.int64))
            if votes is not None:
                group.create_dataset("votes", data=votes[split].astype(np.float32))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def content_sha256(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """The sha256 of a dataset's faces and labels, split by split in the given order (names,
    shapes and bytes), the data's identity in every run record."""
    digest = hashlib.sha256()
    for name, (images, labels) in splits.items():
        images, labels = images.astype(np.uint8), labels.astype(np.int64)
        digest.update(f"{name}:{images.shape}:{labels.shape};".encode())
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def data_identity(path: str | Path) -> dict[str, object]:
    """What a run records of its data file: the content hash (stored by fer-prepare; computed
    here for files written before it was) and the size of each split."""
    with open_dataset(path, classes=None) as f:
        meta = read_meta(f)
        sizes = {s: int(f[s]["labels"].shape[0]) for s in meta.splits}
        stored = f.attrs.get("content_sha256")
        digest = (
            str(stored)
            if stored
            else content_sha256({s: (f[s]["images"][:], f[s]["labels"][:]) for s in meta.splits})
        )
    return {"name": meta.name, "content_sha256": digest, "split_sizes": sizes}


def read_meta(f: h5py.File) -> DatasetMeta:
    """The meta of an open dataset file; format 1 files are FER2013's."""
    if int(f.attrs.get("format_version", 1)) < 2:
        return FER2013_FILE
    return DatasetMeta(
        classes=tuple(str(c) for c in f.attrs["classes"]),
        image_size=int(f.attrs["image_size"]),
        channels=int(f.attrs["channels"]),
        splits=tuple(str(s) for s in f.attrs["splits"]),
        roles=json.loads(str(f.attrs["roles"])),
        name=str(f.attrs.get("name", "dataset")),
        mean=float(f.attrs.get("mean", MEAN)),  # files from before it was stored: FER2013's
        std=float(f.attrs.get("std", STD)),
    )


def open_dataset(path: str | Path, classes: tuple[str, ...] | None = CLASSES) -> h5py.File:
    """Open a fer dataset file for reading, checking its format; DatasetError says what is wrong.

    `classes`: the class list the caller needs (training code: FER2013's); None takes any."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such dataset file; convert FER2013 first: fer-prepare SOURCE -o {path}"
        )
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file") from None
    stored = [str(c) for c in f.attrs.get("classes", [])]
    try:
        meta = read_meta(f)
    except (KeyError, ValueError):
        meta = None
    if not stored or meta is None or any(s not in f for s in meta.splits):
        f.close()
        raise DatasetError(f"{path}: not a fer dataset (re-create it with fer-prepare)")
    if classes is not None and tuple(meta.classes) != tuple(classes):
        f.close()
        raise DatasetError(
            f"{path}: its classes are {', '.join(meta.classes)}, not {', '.join(classes)}"
        )
    return f


def dataset_meta(path: str | Path) -> DatasetMeta:
    """The meta of a dataset file (any classes)."""
    with open_dataset(path, classes=None) as f:
        return read_meta(f)


def read_split(
    path: str | Path, split: str, classes: tuple[str, ...] | None = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split fully into memory: (uint8 (N, S, S[, 3]), int64 (N,))."""
    with open_dataset(path, classes) as f:
        if split not in f:
            meta = read_meta(f)
            raise DatasetError(f"{path}: no split {split!r} (it has: {', '.join(meta.splits)})")
        return f[split]["images"][:], f[split]["labels"][:]


def read_votes(path: str | Path, split: str) -> np.ndarray | None:
    """A split's label distributions (N, classes), or None when the file has none."""
    with open_dataset(path, classes=None) as f:
        return f[split]["votes"][:] if "votes" in f[split] else None


def dataset_info(path: str | Path) -> tuple[DatasetMeta, dict[str, np.ndarray]]:
    """The meta and the counts per class of each split: {split: int array of len(classes)}."""
    with open_dataset(path, classes=None) as f:
        meta = read_meta(f)
        counts = {
            s: np.bincount(f[s]["labels"][:], minlength=len(meta.classes)) for s in meta.splits
        }
        return meta, counts


def training_splits(path: str | Path) -> dict[str, str]:
    """{role: split} of a file to train on: it needs train, val and test splits (FER2013's
    usages, or a class-folder set's train/val/test). DatasetError says what is missing."""
    meta = dataset_meta(path)
    return {role: meta.split_for(role) for role in ROLES}
