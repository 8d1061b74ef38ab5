"""An ensemble of fer models as one `nn.Module`: the mean of its members' probabilities.

Its forward returns the log of the mean probability, so a softmax over it (what every fer tool
applies to a model's output) gives exactly the averaged probabilities: an ensemble loads,
evaluates and predicts wherever a single model does. Its config is
`{"name": "ensemble", "members": [member config, ...]}`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from fer.models.factory import build_model, register


class Ensemble(nn.Module):
    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the members' mean probability (B, C) for faces x (B, 1, H, W)."""
        log_probs = torch.stack([m(x).float().log_softmax(-1) for m in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))


@register("ensemble")
def ensemble(members: list[dict[str, Any]]) -> Ensemble:
    """An ensemble built from its members' configs."""
    return Ensemble([build_model(dict(config)) for config in members])
