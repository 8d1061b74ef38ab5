"""The LightningModule: loss, metrics, optimisation and logging around a plain `nn.Module`.

Batches arrive as uint8 (B, 48, 48); `forward` normalises them with the shared preprocessing,
so a checkpoint's model sees exactly what the Predictor will give it.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from fer.checkpoint import checkpoint_metadata
from fer.fer2013 import CLASSES, IMAGE_SIZE, MEAN, STD
from fer.models import build_model
from fer.optim import configure_optimization
from fer.preprocess import normalize
from fer.transfer import param_groups, prepare_for_training

log = logging.getLogger(__name__)
STAGES = ("train", "val", "test")


def stage_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            "recall_per_class": MulticlassRecall(num_classes, average=None),
        }
    )


class FaceModule(L.LightningModule):
    """What fer's LightningModules share: the plain model they train (`self.net`, built from its
    config), faces in as uint8 and normalised the one way (fer.preprocess), channels-last where
    asked, and the optimiser and schedule from the `optimizer` and `scheduler` configs.

    Its arguments and a subclass's own are the module's hyperparameters (primitives only, so
    checkpoints stay weights_only-loadable)."""

    def __init__(
        self,
        model: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any],
        channels_last: bool = True,
        mean: float = MEAN,
        std: float = STD,
        equalized: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # with the subclass's arguments
        self.net = self.build_net(model)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def build_net(self, model: dict[str, Any]) -> torch.nn.Module:
        """The network from its config (a subclass may prepare it further)."""
        return build_model(model)

    def faces_in(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) grey or (B, H, W, 3) RGB faces, normalised; a float tensor is taken as
        normalised already."""
        hp = self.hparams
        x = (
            normalize(images, hp.mean, hp.std, hp.equalized)
            if images.dtype == torch.uint8
            else images
        )
        return x.contiguous(memory_format=torch.channels_last) if hp.channels_last else x

    def optimizer_groups(self) -> Any:
        """What the optimiser updates (parameters or parameter groups)."""
        return self.parameters()

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimization(
            self.optimizer_groups(),
            self.hparams.optimizer,
            self.hparams.scheduler,
            int(self.trainer.estimated_stepping_batches),
            self.trainer.max_epochs,
        )


class EmotionClassifier(FaceModule):
    """Faces to emotions: cross-entropy (hard labels or label distributions), per-stage metrics,
    per-class recall, and per-image predictions recorded for the selected checkpoint."""

    def __init__(
        self,
        label_smoothing: float = 0.0,
        class_weights: list[float] | None = None,
        classes: list[str] = list(CLASSES),  # noqa: B006 - stored as a primitive hyperparameter
        input_size: int = IMAGE_SIZE,
        channels: int = 1,
        **face: Any,
    ) -> None:
        super().__init__(**face)  # model, optimizer, scheduler, channels_last, mean, std, ...
        self.frozen_backbone = bool(self.hparams.model.get("freeze"))
        if self.frozen_backbone:
            self.net.backbone.eval()  # Lightning restores the modes it finds here after validating
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self.metrics = torch.nn.ModuleDict(
            {f"{stage}_metrics": stage_metrics(len(classes)) for stage in STAGES}
        )
        self.losses = torch.nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in STAGES})
        self._last_val: dict[str, float] = {}
        self.val_acc_best = MaxMetric()
        self._recorded: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def build_net(self, model: dict[str, Any]) -> torch.nn.Module:
        return prepare_for_training(build_model(model), model)

    def train(self, mode: bool = True) -> EmotionClassifier:
        """A frozen backbone stays in eval mode: its norm statistics do not drift either."""
        super().train(mode)
        if mode and self.frozen_backbone:
            self.net.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) grey or (B, H, W, 3) RGB faces, or normalised float (B, C, H, W)
        -> logits (B, classes)."""
        return self.net(self.faces_in(images))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        images, targets = batch  # labels, or label distributions (data.targets=soft)
        logits = self(images).float()
        loss = F.cross_entropy(
            logits, targets, weight=self.class_weights, label_smoothing=self.hparams.label_smoothing
        )
        labels = targets.argmax(1) if targets.is_floating_point() else targets
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{stage} loss is {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step}: training diverged (try a lower optimizer.lr)"
            )
        self.metrics[f"{stage}_metrics"].update(logits, labels)
        self.losses[f"{stage}_loss"].update(loss.detach(), len(labels))
        if self._recorded is not None and stage != "train":
            self._recorded.append((logits.detach().softmax(-1).cpu(), labels.cpu()))
        if stage == "train":
            self.log("train/loss_step", loss, prog_bar=True)
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def record_predictions(self) -> None:
        """Keep every val/test batch's probabilities until `recorded_predictions` is called."""
        self._recorded = []

    def recorded_predictions(self) -> dict[str, np.ndarray]:
        """The probabilities (N, C) float32 and labels (N,) int64 seen since
        `record_predictions`, in the split's order; recording stops. Under DDP every rank
        calls it and gets all ranks' shares: Lightning's sampler deals image i to rank
        i % world_size (padding the last round with the first images), so the shares interleave
        back into the split's order, padding at the end."""
        recorded, self._recorded = self._recorded or [], None
        probs = torch.zeros(0, len(self.hparams.classes))
        labels = torch.zeros(0, dtype=torch.long)
        if recorded:
            probs = torch.cat([p for p, _ in recorded]).float()
            labels = torch.cat([y for _, y in recorded]).long()
        if self.trainer.world_size > 1:
            probs = self.all_gather(probs).transpose(0, 1).reshape(-1, probs.shape[1])
            labels = self.all_gather(labels).transpose(0, 1).reshape(-1)
        return {"probs": probs.cpu().numpy(), "labels": labels.cpu().numpy()}

    def on_train_epoch_start(self) -> None:
        if self.frozen_backbone:
            self.net.backbone.eval()

    def on_train_start(self) -> None:
        self.val_acc_best.reset()  # forget the sanity-check validation

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.metrics[f"{stage}_metrics"].compute()
        values["loss"] = self.losses[f"{stage}_loss"].compute()
        self.metrics[f"{stage}_metrics"].reset()
        self.losses[f"{stage}_loss"].reset()
        per_class = values.pop("recall_per_class")
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "acc", sync_dist=True)
        for name, value in zip(self.hparams.classes, per_class):
            self.log(f"{stage}/recall_{name}", value, sync_dist=True)
        return values

    def on_train_epoch_end(self) -> None:
        train = self._log_epoch("train")  # Lightning validates before this hook: val is fresh
        val = self._last_val
        log.info(
            "epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f (best %.4f)",
            self.current_epoch + 1,
            self.trainer.max_epochs,
            train["loss"],
            train["acc"],
            val.get("loss", float("nan")),
            val.get("acc", float("nan")),
            val.get("acc_best", float("nan")),
        )

    def on_validation_epoch_end(self) -> None:
        values = self._log_epoch("val")
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            self.val_acc_best.update(values["acc"])
            values["acc_best"] = self.val_acc_best.compute()
            self.log("val/acc_best", values["acc_best"], prog_bar=True, sync_dist=True)
            self._last_val = {k: float(v) for k, v in values.items()}

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def optimizer_groups(self) -> Any:
        return param_groups(
            self.net,
            self.hparams.optimizer.get("lr", 0.0),
            self.hparams.model.get("backbone_lr_mult", 1.0),
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fer"] = checkpoint_metadata(self.hparams)
