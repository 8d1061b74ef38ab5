"""The parts every fer model shares: `backbone` -> features -> `head` -> logits."""

from __future__ import annotations

import torch
from torch import nn


class BackboneClassifier(nn.Module):
    """A subclass sets `backbone`, `head` and `num_features` and defines `forward_features`;
    `embed` (one vector per face) is the features unless the subclass pools them."""

    backbone: nn.Module
    head: nn.Module
    num_features: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)
