"""Pretraining data: two random views of each Training face, and labelled faces for a kNN monitor.

Labels are never used to train the encoder. Validation reads a labelled bank (a seeded subset of
Training, without augmentation) and PublicTest, so the run can report how well a k-nearest-
neighbour classifier on the embeddings does: the usual way to watch a self-supervised run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fer.data.datamodule import (
    START_METHOD,
    FaceDataset,
    seed_worker_transform,
    subset_indices,
)
from fer.data.hdf5 import read_split


def build_views(config: dict[str, Any], size: int = 48) -> A.Compose:
    """SimCLR-style views for grey faces: a random resized crop, flip, mild rotation,
    brightness/contrast jitter (the grey counterpart of colour jitter) and blur."""
    low = float(config.get("crop_scale", 0.3))
    b = float(config.get("brightness_contrast", 0.4))
    return A.Compose(
        [
            A.RandomResizedCrop(size=(size, size), scale=(low, 1.0), ratio=(0.8, 1.25)),
            A.HorizontalFlip(p=0.5),
            A.Affine(rotate=(-15, 15), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=b, contrast_limit=b, p=0.8),
            A.GaussianBlur(blur_limit=(3, 5), p=float(config.get("blur", 0.3))),
        ]
    )


class TwoViews(Dataset):
    """uint8 faces (N, H, W) -> two independently augmented uint8 views of face i."""

    def __init__(self, images: np.ndarray, transform: A.Compose) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        return tuple(torch.from_numpy(self.transform(image=image)["image"]) for _ in range(2))


class PretrainData(L.LightningDataModule):
    def __init__(
        self,
        path: str,
        views: dict[str, Any],
        batch_size: int = 256,
        num_workers: int = 1,
        limit: float | None = None,
        bank_size: int = 5000,
        seed: int = 0,
        **_: Any,  # the rest of the data config (eval_limit, sampler, cv) does not apply
    ) -> None:
        super().__init__()
        self.path, self.batch_size, self.num_workers = Path(path), batch_size, num_workers
        self.limit, self.bank_size, self.seed = limit, bank_size, seed
        self.views = views
        self.transform = build_views(views)  # its keys checked now; built at the data's size
        self.train_set: TwoViews | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        images, labels = read_split(self.path, "Training")
        keep = subset_indices(labels, self.limit, self.seed)
        self.transform = build_views(self.views, size=images.shape[1])
        self.transform.set_random_seed(self.seed)
        self.train_set = TwoViews(images[keep], self.transform)
        bank = subset_indices(labels, self.bank_size, self.seed)
        self.bank_set = FaceDataset(images[bank], labels[bank])
        self.val_set = FaceDataset(*read_split(self.path, "PublicTest"))

    def train_dataloader(self) -> DataLoader:
        workers = self.num_workers
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) > self.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            multiprocessing_context=START_METHOD if workers > 0 else None,
            worker_init_fn=seed_worker_transform,
        )

    def val_dataloader(self) -> list[DataLoader]:
        return [
            DataLoader(self.bank_set, batch_size=self.batch_size * 2),
            DataLoader(self.val_set, batch_size=self.batch_size * 2),
        ]
