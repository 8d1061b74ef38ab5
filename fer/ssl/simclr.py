"""SimCLR: an encoder learns to match two views of the same face against every other face.

Each batch of B faces gives 2B views; the encoder's embedding goes through a small projection
MLP, and the NT-Xent loss (a softmax over cosine similarities at a temperature) asks each view
to pick out its partner among the 2B - 1 others. Only the encoder (`net.backbone`) is kept.
Validation embeds a labelled bank and PublicTest and reports k-nearest-neighbour accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fer.system import FaceModule


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The NT-Xent loss of SimCLR for projections z1[i] <-> z2[i] (B, D) each."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # a view is not its own partner
    n = len(z1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def knn_accuracy(
    bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, labels: torch.Tensor, k: int
) -> float:
    """Accuracy of a cosine k-nearest-neighbour vote (weighted by similarity) of `query` in
    `bank`."""
    bank, query = F.normalize(bank.float(), dim=1), F.normalize(query.float(), dim=1)
    sim, idx = (query @ bank.T).topk(min(k, len(bank)), dim=1)
    classes = int(max(bank_labels.max(), labels.max())) + 1
    votes = torch.zeros(len(query), classes).scatter_add_(1, bank_labels[idx], sim.exp())
    return float((votes.argmax(1) == labels).float().mean())


class SimCLR(FaceModule):
    """SimCLR pretraining of `self.net`'s backbone (with a projection MLP that is not kept) and
    the kNN monitor on PublicTest."""

    def __init__(
        self,
        temperature: float = 0.2,
        proj_hidden: int = 512,
        proj_dim: int = 128,
        knn_k: int = 20,
        **face: Any,
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"ssl.temperature must be positive, got {temperature}")
        super().__init__(**face)  # model, optimizer, scheduler, channels_last, mean, std
        self.projector = nn.Sequential(
            nn.Linear(self.net.num_features, proj_hidden),
            nn.BatchNorm1d(proj_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(proj_hidden, proj_dim),
        )
        self._embeddings: dict[int, list[torch.Tensor]] = {}
        self._labels: dict[int, list[torch.Tensor]] = {}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 faces (B, H, W) -> encoder embeddings (B, D)."""
        return self.net.embed(self.faces_in(images))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        v1, v2 = batch
        z = self.projector(self.embed(torch.cat([v1, v2])).float())
        loss = nt_xent(*z.chunk(2), self.hparams.temperature)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SimCLR loss is {loss.item()} at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        images, labels = batch
        self._embeddings.setdefault(dataloader_idx, []).append(self.embed(images).float().cpu())
        self._labels.setdefault(dataloader_idx, []).append(labels.cpu())

    def on_validation_epoch_end(self) -> None:
        if len(self._embeddings) == 2:  # the bank (0) and PublicTest (1)
            bank, query = (torch.cat(self._embeddings[i]) for i in (0, 1))
            bank_labels, labels = (torch.cat(self._labels[i]) for i in (0, 1))
            acc = knn_accuracy(bank, bank_labels, query, labels, self.hparams.knn_k)
            self.log("val/knn_acc", acc, prog_bar=True, add_dataloader_idx=False)
        self._embeddings, self._labels = {}, {}
