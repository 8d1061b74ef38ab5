"""How a face crop is cut from a detection, so that it is framed as the model's training faces.

A detector's box is not the frame a dataset's faces have: FER2013's 48×48 faces are tighter
than a margin crop and sit lower than MTCNN's box. A `Framing` says where the square crop lies
relative to the box (its side in box sizes, its centre offset in box sizes) and whether it is
turned so that the eyes are level. It belongs to the model (stored in its checkpoint) because a
model trained on other crops needs another one; `scripts/fit_framing.py` fits it on data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
Landmarks = Sequence[tuple[float, float]]  # left eye, right eye, nose, mouth corners (x, y)


@dataclass(frozen=True)
class Framing:
    """A square crop of side `scale` box sizes, centred `dx`, `dy` box sizes from the box's
    centre (in the face's own axes when `level_eyes` turns the crop to level the eyes).

    The box size is the mean of its width and height."""

    scale: float = 1.4  # crop side / box size (a 20% margin on each side is 1.4)
    dx: float = 0.0  # centre offset to the right, in box sizes
    dy: float = 0.0  # centre offset downwards, in box sizes
    level_eyes: bool = False  # rotate the crop so that the eyes' line is horizontal

    @classmethod
    def from_margin(cls, margin: float) -> Framing:
        """The plain margin crop: the box grown by `margin` of its size on each side."""
        if margin <= -0.5:
            raise ValueError(f"margin must be > -0.5 (a crop needs a size), got {margin}")
        return cls(scale=1 + 2 * margin)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Framing:
        """From checkpoint metadata; None (an older checkpoint) gives FER2013's framing."""
        return FER2013 if values is None else cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def square(self, box: Box, landmarks: Landmarks | None = None) -> tuple[float, ...]:
        """The crop as (centre x, centre y, side, angle in radians) in image pixels."""
        x1, y1, x2, y2 = box
        size = ((x2 - x1) + (y2 - y1)) / 2
        angle = eye_angle(landmarks) if self.level_eyes and landmarks is not None else 0.0
        cos, sin = math.cos(angle), math.sin(angle)
        cx = (x1 + x2) / 2 + (cos * self.dx - sin * self.dy) * size
        cy = (y1 + y2) / 2 + (sin * self.dx + cos * self.dy) * size
        return cx, cy, self.scale * size, angle

    def crop(self, image: np.ndarray, box: Box, landmarks: Landmarks | None = None) -> np.ndarray:
        """The framed square crop of `image` (H, W[, C]) at its own resolution (side pixels);
        parts outside the image repeat its edge pixels, so the crop is never squashed."""
        cx, cy, side, angle = self.square(box, landmarks)
        out = max(1, int(round(side)))
        k = side / out  # source pixels per output pixel
        cos, sin = math.cos(angle), math.sin(angle)
        # Output pixel (u, v) -> source point, pixel centres at +0.5 on both sides.
        a = np.array([[k * cos, -k * sin], [k * sin, k * cos]])
        offset = np.array([cx, cy]) + a @ np.full(2, 0.5) - a @ np.full(2, out / 2) - 0.5
        matrix = np.column_stack([a, offset])
        return cv2.warpAffine(
            image,
            matrix,
            (out, out),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )


def eye_angle(landmarks: Landmarks) -> float:
    """The angle (radians, clockwise in image coordinates) of the line from left to right eye."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.atan2(ry - ly, rx - lx)


# FER2013's framing: medians over 899 Training faces placed in photos and found by MTCNN
# (`python scripts/fit_framing.py --data data/fer2013.h5`; README, "Framing"): the 48×48 frame
# is 1.085 box sizes wide and sits 0.016 box sizes above the box's centre. FER2013's eyes are
# level to within ±4° for half of its faces, so the crop levels them too (on the PublicTest
# pipeline benchmark: 66.7% against 65.4% on the faces found). Checkpoints of models trained on
# FER2013 store it; older checkpoints, which have none, get it too.
FER2013 = Framing(scale=1.085, dx=0.003, dy=-0.016, level_eyes=True)
