"""The parts every fer model shares: `backbone` -> features -> `head` -> logits."""

from __future__ import annotations

import torch
from torch import nn

# Defaults when a config says nothing: FER2013's 7 classes of 48x48 grey faces. Training fills in
# the data's own (fer.train.model_for_data) and checkpoints store them; models know no dataset.
NUM_CLASSES = 7
INPUT_SIZE = 48


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
