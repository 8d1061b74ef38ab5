"""Lightning callbacks of our own: training throughput and wall time, and last.ckpt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L


class RunStats(L.Callback):
    """Training images/s over whole training epochs (data loading and augmentation included,
    validation excluded). Its counts and the fit's wall time so far go into every checkpoint, so
    a resumed run counts the epochs and the time of its earlier attempts too (`earlier_seconds`:
    the wall time up to the checkpoint it resumed from)."""

    def __init__(self) -> None:
        self.images = 0
        self.train_seconds = 0.0
        self.earlier_seconds = 0.0
        self.fit_start = 0.0
        self._epoch_start = 0.0
        self._epoch_images = 0
        self._epoch_seconds = 0.0
        self._counted = True  # the current epoch's images are in `images`

    @property
    def images_per_s(self) -> float:
        return self.images / self.train_seconds if self.train_seconds else 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.fit_start = time.perf_counter()

    def state_dict(self) -> dict[str, float]:
        # last.ckpt is written after validation, before on_train_epoch_end counts the epoch
        counting = not self._counted
        return {
            "images": self.images + (self._epoch_images if counting else 0),
            "train_seconds": self.train_seconds + (self._epoch_seconds if counting else 0.0),
            "wall_seconds": self.earlier_seconds + time.perf_counter() - self.fit_start,
        }

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.images = int(state_dict["images"])
        self.train_seconds = float(state_dict["train_seconds"])
        self.earlier_seconds = float(state_dict["wall_seconds"])

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_images, self._epoch_seconds, self._counted = 0, 0.0, False

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._epoch_images += len(batch[1])
        self._epoch_seconds = time.perf_counter() - self._epoch_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.images += self._epoch_images
        self.train_seconds += self._epoch_seconds
        self._counted = True
        pl_module.log("train/images_per_s", self.images_per_s)


def last_checkpoint(run_dir: Path) -> L.pytorch.callbacks.ModelCheckpoint:
    """checkpoints/last.ckpt, what a resume continues from, after every epoch. Not
    `save_last=True`: since Lightning 2.6 that copies only when a monitored checkpoint is saved,
    so an interrupted run would resume from its last improvement and redo the epochs after it."""
    return L.pytorch.callbacks.ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="last", enable_version_counter=False
    )
