"""The LightningDataModule over the HDF5 file: Training / PublicTest / PrivateTest.

train = Training (or its k-1 folds), val = PublicTest (or the held-out fold) for model
selection and early stopping, test = PrivateTest, reported once for the selected checkpoint.
The uint8 arrays (about 80 MB) are held in memory; batches are uint8 (B, 48, 48) and the
LightningModule normalises them on its device.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from fer.data.augment import build_augment
from fer.data.hdf5 import DatasetError, dataset_meta, read_split, read_votes, training_splits

TARGETS = ("majority", "soft")  # train on labels, or on label distributions (FER+ votes)
SAMPLERS = ("shuffle", "balanced")
EVAL_ORDER_SEED = 0  # val and test are read in one fixed shuffled order, whatever the run's seed
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


class FaceDataset(Dataset):
    """uint8 faces and labels in memory, with an optional albumentations transform; `index`
    holds each face's row in its HDF5 split. With `soft` (N, classes) label distributions, a
    face's target is its distribution instead of its label (data.targets=soft)."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform: A.Compose | None = None,
        index: np.ndarray | None = None,
        soft: np.ndarray | None = None,
    ):
        self.images, self.labels, self.transform = images, labels, transform
        self.index = np.arange(len(labels)) if index is None else np.asarray(index)
        self.soft = soft

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        pixels = torch.from_numpy(np.ascontiguousarray(image))
        if self.soft is not None:
            return pixels, torch.from_numpy(self.soft[index])
        return pixels, int(self.labels[index])


def seed_worker_transform(worker_id: int) -> None:
    """Seed albumentations from torch's per-worker, per-epoch seed, so runs repeat exactly."""
    info = torch.utils.data.get_worker_info()
    if info is not None and info.dataset.transform is not None:
        info.dataset.transform.set_random_seed(torch.initial_seed() % 2**32)


def subset_indices(labels: np.ndarray, limit: float | None, seed: int) -> np.ndarray:
    """A seeded random subset: `limit` > 1 is a count, 0 < `limit` <= 1 a fraction."""
    n = len(labels)
    if limit is None or limit == 1 or (limit > 1 and limit >= n):
        return np.arange(n)
    if limit <= 0:
        raise ValueError(f"data.limit must be positive (a count or a fraction), got {limit}")
    keep = round(limit * n) if limit < 1 else int(limit)
    return np.sort(np.random.default_rng(seed).permutation(n)[: max(keep, 1)])


def fold_indices(
    labels: np.ndarray, folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified k-fold: (train indices, held-out indices) for `fold` of `folds`."""
    if folds < 2 or not 0 <= fold < folds:
        raise ValueError(f"data.cv_fold must be in 0..{folds - 1} with data.cv_folds >= 2")
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = np.arange(len(members)) % folds
    return np.flatnonzero(assignment != fold), np.flatnonzero(assignment == fold)


class FERDataModule(L.LightningDataModule):
    def __init__(
        self,
        path: str,
        batch_size: int = 128,
        num_workers: int = 1,
        limit: float | None = None,
        eval_limit: float | None = None,
        cv_folds: int = 0,
        cv_fold: int = 0,
        sampler: str = "shuffle",
        targets: str = "majority",
        augment: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if targets not in TARGETS:
            raise ValueError(
                f"unknown data.targets {targets!r}; valid choices: {', '.join(TARGETS)}"
            )
        self.targets = targets
        if sampler not in SAMPLERS:
            raise ValueError(
                f"unknown data.sampler {sampler!r}; valid choices: {', '.join(SAMPLERS)}"
            )
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be positive, got {batch_size}")
        self.path = Path(path)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.limit, self.eval_limit, self.seed = limit, eval_limit, seed
        self.cv_folds, self.cv_fold, self.sampler = cv_folds, cv_fold, sampler
        self.augment = augment
        self.transform = build_augment(augment)  # its keys checked now; built at the data's size
        self.train_set: FaceDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        splits = training_splits(self.path)  # FER2013's usages, or train/val/test of another set
        self.meta = dataset_meta(self.path)
        images, labels = read_split(self.path, splits["train"], classes=None)
        if self.cv_folds:
            train_idx, val_idx = fold_indices(labels, self.cv_folds, self.cv_fold, self.seed)
            val = (images[val_idx], labels[val_idx], val_idx)
            images, labels, rows = images[train_idx], labels[train_idx], train_idx
        else:
            val_images, val_labels = read_split(self.path, splits["val"], classes=None)
            val = (val_images, val_labels, np.arange(len(val_labels)))
            rows = np.arange(len(labels))
        keep = subset_indices(labels, self.limit, self.seed)
        self.transform = build_augment(self.augment, size=self.meta.image_size)
        if self.transform is not None:
            self.transform.set_random_seed(self.seed)
        soft = None
        if self.targets == "soft":
            soft = read_votes(self.path, splits["train"])
            if soft is None:
                raise DatasetError(
                    f"{self.path}: data.targets=soft needs label distributions, which this file "
                    "has not (FER+: fer-prepare fer2013.csv --ferplus fer2013new.csv)"
                )
            soft = soft[rows[keep]]
        self.train_set = FaceDataset(images[keep], labels[keep], self.transform, rows[keep], soft)
        self.val_set = self._eval_set(*val)
        test_images, test_labels = read_split(self.path, splits["test"], classes=None)
        self.test_set = self._eval_set(test_images, test_labels, np.arange(len(test_labels)))
        if min(len(self.train_set), len(self.val_set), len(self.test_set)) == 0:
            raise ValueError(
                f"{self.path}: a split is empty (train/val/test sizes "
                f"{len(self.train_set)}/{len(self.val_set)}/{len(self.test_set)})"
            )

    def _eval_set(self, images: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> FaceDataset:
        """The split in one fixed shuffled order (the file stores it sorted by class, so a few
        batches, e.g. trainer.limit_val_batches=2, would otherwise be one emotion only)."""
        keep = subset_indices(labels, self.eval_limit, self.seed)
        keep = keep[np.random.default_rng(EVAL_ORDER_SEED).permutation(len(keep))]
        return FaceDataset(images[keep], labels[keep], index=rows[keep])

    def class_counts(self) -> np.ndarray:
        self.setup()
        return np.bincount(self.train_set.labels, minlength=len(self.meta.classes))

    def class_weights(self) -> list[float]:
        """Inverse-frequency weights n / (classes * count): balanced, 1 on average per sample."""
        counts = np.maximum(self.class_counts(), 1)
        weights = counts.sum() / (len(counts) * counts)
        return [float(w) for w in weights]

    def train_dataloader(self) -> DataLoader:
        sampler = None
        if self.sampler == "balanced":
            per_sample = (1.0 / np.maximum(self.class_counts(), 1))[self.train_set.labels]
            sampler = WeightedRandomSampler(per_sample.tolist(), len(per_sample), replacement=True)
        return self._loader(
            self.train_set, shuffle=sampler is None, sampler=sampler, drop_last=True
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, batch_size=self.batch_size * 2)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, batch_size=self.batch_size * 2)

    def _loader(
        self, dataset: FaceDataset, batch_size: int | None = None, **kwargs: Any
    ) -> DataLoader:
        uses_workers = self.num_workers > 0 and dataset.transform is not None
        drop_last = kwargs.pop("drop_last", False) and len(dataset) > (
            batch_size or self.batch_size
        )
        return DataLoader(
            dataset,
            batch_size=batch_size or self.batch_size,
            drop_last=drop_last,
            num_workers=self.num_workers if uses_workers else 0,
            persistent_workers=uses_workers,
            # An explicit start method: inside joblib's (loky) launcher processes the default
            # context cannot start loader workers.
            multiprocessing_context=START_METHOD if uses_workers else None,
            worker_init_fn=seed_worker_transform,
            **kwargs,
        )
