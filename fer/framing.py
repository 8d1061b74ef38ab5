"""How a face crop is cut from a detection, so that it is framed as the model's training faces.

A detector's box is not the frame a dataset's faces have: FER2013's 48×48 faces are tighter
than a margin crop and sit lower than MTCNN's box. A `Framing` says where the square crop lies
relative to the box (its side in box sizes, its centre offset in box sizes) and whether it is
turned so that the eyes are level. With `anchors` (where the five landmarks sit in the frame) it
also fits a square to the detection's landmarks; the face is then cut once, halfway between the
box's square and the landmarks' (`one_crop`), or twice, the model's probabilities on the two
crops averaged. It belongs to the model (stored in its checkpoint) because a model trained on
other crops needs another one; `scripts/experiments/fit_framing.py` fits it on data.
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
Square = tuple[float, float, float, float]  # centre x, centre y, side (pixels), angle (radians)


@dataclass(frozen=True)
class Framing:
    """A square crop of side `scale` box sizes, centred `dx`, `dy` box sizes from the box's
    centre (in the face's own axes when `level_eyes` turns the crop to level the eyes).

    The box size is the mean of its width and height. `anchors`, when set, are where the five
    landmarks sit in the frame (x right, y down, in crop sides from its centre): a detection's
    landmarks then give a second square, the similarity transform that best carries the anchors
    onto them (least squares). The box and the landmarks are two estimates of the same frame
    whose errors partly cancel: with `one_crop` the face is cut once at the square halfway
    between them (centre, log side and angle averaged), otherwise `crops` returns both crops
    and the model's probabilities on them are averaged (twice the time)."""

    scale: float = 1.4  # crop side / box size (a 20% margin on each side is 1.4)
    dx: float = 0.0  # centre offset to the right, in box sizes
    dy: float = 0.0  # centre offset downwards, in box sizes
    level_eyes: bool = False  # rotate the crop so that the eyes' line is horizontal
    anchors: tuple[tuple[float, float], ...] | None = None  # the landmarks' place in the frame
    one_crop: bool = False  # with anchors: one crop between the box's and the landmarks' squares

    @classmethod
    def from_margin(cls, margin: float) -> Framing:
        """The plain margin crop: the box grown by `margin` of its size on each side."""
        if margin <= -0.5:
            raise ValueError(f"margin must be > -0.5 (a crop needs a size), got {margin}")
        return cls(scale=1 + 2 * margin)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Framing:
        """From checkpoint metadata; None (an older checkpoint) gives FER2013's framing. A
        stored framing without anchors (written before they existed) stays box-only."""
        if values is None:
            return FER2013
        values = dict(values)
        if values.get("anchors") is not None:  # JSON lists back to the tuples the class holds
            values["anchors"] = tuple((float(x), float(y)) for x, y in values["anchors"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def crops_per_face(self) -> int:
        """How many crops a detected face (with landmarks) is cut into and classified."""
        return 2 if self.anchors is not None and not self.one_crop else 1

    def square(self, box: Box, landmarks: Landmarks | None = None) -> Square:
        """The box's crop as (centre x, centre y, side, angle in radians) in image pixels."""
        x1, y1, x2, y2 = box
        size = ((x2 - x1) + (y2 - y1)) / 2
        angle = eye_angle(landmarks) if self.level_eyes and landmarks is not None else 0.0
        cos, sin = math.cos(angle), math.sin(angle)
        cx = (x1 + x2) / 2 + (cos * self.dx - sin * self.dy) * size
        cy = (y1 + y2) / 2 + (sin * self.dx + cos * self.dy) * size
        return cx, cy, self.scale * size, angle

    def landmark_square(self, landmarks: Landmarks | None) -> Square | None:
        """The square that carries `anchors` onto `landmarks` (a least-squares similarity
        transform: shift, scale, rotation); None without anchors or usable landmarks."""
        if self.anchors is None or landmarks is None or len(landmarks) != len(self.anchors):
            return None
        src = np.array([complex(x, y) for x, y in self.anchors])
        dst = np.array([complex(x, y) for x, y in landmarks])
        s0, d0 = src - src.mean(), dst - dst.mean()
        spread = float((np.abs(s0) ** 2).sum())
        if spread == 0:
            return None
        k = (np.conj(s0) * d0).sum() / spread  # dst ≈ k * src + t, in complex numbers
        if abs(k) < 1e-6:  # the landmarks all in one point: no frame to fit
            return None
        t = dst.mean() - k * src.mean()  # where the frame's centre (0, 0) goes
        return float(t.real), float(t.imag), float(abs(k)), float(np.angle(k))

    def squares(self, box: Box, landmarks: Landmarks | None = None) -> list[Square]:
        """The squares a face is cut into: the box's, then the landmarks' when the framing has
        anchors; with `one_crop`, the one square halfway between those two."""
        boxed, fitted = self.square(box, landmarks), self.landmark_square(landmarks)
        if fitted is None:
            return [boxed]
        return [mean_square(boxed, fitted)] if self.one_crop else [boxed, fitted]

    def crop(self, image: np.ndarray, box: Box, landmarks: Landmarks | None = None) -> np.ndarray:
        """One framed square crop of `image` (H, W[, C]) at its own resolution: the first of
        `squares` (with `one_crop`, the one inference classifies; otherwise the box's)."""
        return cut_square(image, self.squares(box, landmarks)[0])

    def crops(
        self, image: np.ndarray, box: Box, landmarks: Landmarks | None = None
    ) -> list[np.ndarray]:
        """Every crop of the face the framing takes (`squares`): the model averages them."""
        return [cut_square(image, square) for square in self.squares(box, landmarks)]


def cut_square(image: np.ndarray, square: Square) -> np.ndarray:
    """The square (centre x, centre y, side, angle) of `image` (H, W[, C]), turned upright, at
    its own resolution (side pixels); parts outside the image repeat its edge pixels, so the
    crop is never squashed."""
    cx, cy, side, angle = square
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


def mean_square(a: Square, b: Square) -> Square:
    """The square halfway between `a` and `b`: mean centre, geometric-mean side, mean angle."""
    angle = math.atan2(math.sin(a[3]) + math.sin(b[3]), math.cos(a[3]) + math.cos(b[3]))
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2, math.sqrt(a[2] * b[2]), angle


def eye_angle(landmarks: Landmarks) -> float:
    """The angle (radians, clockwise in image coordinates) of the line from left to right eye."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.atan2(ry - ly, rx - lx)


# FER2013's framing: medians over 899 Training faces placed in photos and found by MTCNN
# (`python scripts/experiments/fit_framing.py --data data/fer2013.h5`; README, "Framing"): the
# 48×48 frame is 1.085 box sizes wide and sits 0.016 box sizes above the box's centre. FER2013's
# eyes are level to within ±4° for half of its faces, so the crop levels them too (on the PublicTest
# pipeline benchmark: 66.7% against 65.4% on the faces found). The anchors are the medians of
# the five landmarks in the true frame: the landmarks' crop lands 2.0 pixels of the 48×48 face
# from the true centre (median; the box's 2.6), and averaging the model over both crops gained
# 0.60 points [0.09, 1.21] on the 3,309 PublicTest faces found (README, "Framing"). One crop
# halfway between the two squares does as well as both crops at half the time: with the shipped
# ensemble and crops TTA, +0.36 points [-0.21, 0.91] over both crops and +0.88 [0.24, 1.54] over
# the box's alone on those faces (README, "One crop"). Checkpoints of models trained on FER2013
# store it; older checkpoints, which have none, get it too.
FER2013 = Framing(
    scale=1.085,
    dx=0.003,
    dy=-0.016,
    level_eyes=True,
    anchors=((-0.182, -0.108), (0.196, -0.111), (0.007, 0.098), (-0.152, 0.288), (0.163, 0.283)),
    one_crop=True,
)
