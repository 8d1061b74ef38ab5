"""Faces over time: which face is which from frame to frame, and probabilities smoothed per face.

The tracker keeps a face's id while its box keeps overlapping; the smoother averages each face's
probabilities over about `window_s` seconds (an exponential moving average in time, so it means
the same at 2 and at 20 frames a second), which keeps a live label from flickering while a real
change of expression still shows within the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

IOU_MATCH = 0.3  # a face continues a track when its box overlaps the track's last box this much
Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Tracker:
    """Greedy box-overlap tracking: each face keeps the id of the track it overlaps most."""

    last: dict[int, Box] = field(default_factory=dict)
    next_id: int = 0

    def assign(self, boxes: list[Box]) -> list[int]:
        ids: list[int] = []
        free = dict(self.last)
        for box in boxes:
            best = max(free, key=lambda t: iou(free[t], box), default=None)
            if best is not None and iou(free[best], box) >= IOU_MATCH:
                ids.append(best)
                del free[best]
            else:
                ids.append(self.next_id)
                self.next_id += 1
        for face_id, box in zip(ids, boxes):
            self.last[face_id] = box
        return ids


@dataclass
class Smoother:
    """Per-face exponential moving average of probabilities with time constant `window_s`.

    A frame `dt` seconds after the face's previous one gets weight 1 - exp(-dt / window_s);
    window_s = 0 turns smoothing off. A face unseen for more than `forget_s` starts afresh."""

    window_s: float = 1.0
    forget_s: float = 3.0
    state: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)

    def update(self, face_id: int, time_s: float, probs: np.ndarray) -> np.ndarray:
        previous = self.state.get(face_id)
        if previous is None or self.window_s <= 0 or not 0 <= time_s - previous[0] <= self.forget_s:
            smoothed = probs.astype(np.float32)
        else:
            weight = 1.0 - math.exp(-(time_s - previous[0]) / self.window_s)
            smoothed = ((1.0 - weight) * previous[1] + weight * probs).astype(np.float32)
        self.state[face_id] = (time_s, smoothed)
        return smoothed
