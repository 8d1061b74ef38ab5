"""Camera-like photos made from dataset faces, with the exact place each face was put.

The pipeline benchmark (`scripts/bench/bench_pipeline.py`), the framing fit
(`scripts/experiments/fit_framing.py`) and the tests need photos in which a known 48×48 face sits
at a known position, size and rotation, seen as a camera would see it: a varied background,
exposure and gamma changes, blur, sensor noise and JPEG compression. Everything is drawn from
one seeded generator.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from fer.framing import cut_square

PHOTO_SIZE = (640, 480)  # width, height


@dataclass(frozen=True)
class Placement:
    """Where a face's square went: centre and side in photo pixels, angle in radians (the
    face's x axis turned clockwise in image coordinates, as `Framing.square` measures it)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def corners(self) -> np.ndarray:
        """The square's four corners (4, 2): top-left, top-right, bottom-right, bottom-left."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        half = self.side / 2
        local = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        return local @ np.array([[cos, sin], [-sin, cos]]) + [self.cx, self.cy]

    def cut(self, photo: np.ndarray) -> np.ndarray:
        """The face cut back out of `photo` at exactly this square, turned upright (side × side
        pixels): the crop a perfect detector and framing would give."""
        return cut_square(photo, (self.cx, self.cy, self.side, self.angle))


def place_face(face: np.ndarray, background: np.ndarray, placement: Placement) -> np.ndarray:
    """`face` (S, S) or (S, S, 3) uint8 drawn onto a copy of `background` (H, W, 3) at
    `placement`, upscaled with bicubic interpolation and anti-aliased at its edges."""
    if face.ndim == 2:
        face = np.repeat(face[:, :, None], 3, axis=2)
    size = face.shape[0]
    k = size / placement.side  # face pixels per photo pixel
    cos, sin = math.cos(placement.angle), math.sin(placement.angle)
    # Photo pixel centre (x, y) -> face coordinates: rotate back by the angle, scale, shift.
    a = k * np.array([[cos, sin], [-sin, cos]])
    centre = np.array([placement.cx, placement.cy])
    offset = size / 2 - a @ centre + a @ np.full(2, 0.5) - 0.5
    matrix = np.column_stack([a, offset])
    height, width = background.shape[:2]
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(
        face, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE
    )
    mask = cv2.warpAffine(
        np.ones((size, size), np.float32),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )[:, :, None]
    blended = background * (1 - mask) + warped.astype(np.float32) * mask
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def random_background(rng: np.random.Generator, size: tuple[int, int] = PHOTO_SIZE) -> np.ndarray:
    """A face-free scene (H, W, 3) uint8: a colour gradient, soft blobs and a few shapes."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    start, end = rng.uniform(20, 235, (2, 3))
    direction = rng.uniform(0, 2 * math.pi)
    t = (x * math.cos(direction) + y * math.sin(direction)) / math.hypot(width, height) + 0.5
    image = start + (end - start) * t[:, :, None]
    # Low-frequency texture: noise upscaled from a coarse grid.
    coarse = rng.normal(0, 25, (height // 40 + 2, width // 40 + 2, 3)).astype(np.float32)
    image += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(2, 8)):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(20, width // 2)), int(rng.integers(20, height // 2))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), colour, -1)
        else:
            cv2.ellipse(
                image, (x0, y0), (w // 2, h // 2), float(rng.uniform(0, 180)), 0, 360, colour, -1
            )
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(1, 4)))
    return np.clip(image, 0, 255).astype(np.uint8)


def camera_effects(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, contrast, gamma, blur, sensor noise and JPEG compression, each drawn at random
    within what ordinary webcams and phone photos show."""
    x = photo.astype(np.float32) / 255
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)  # contrast, brightness
    x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4)  # gamma
    sigma = rng.uniform(0, 1.5)
    if sigma > 0.3:
        x = cv2.GaussianBlur(x, (0, 0), sigma)
    x = x + rng.normal(0, rng.uniform(0, 0.03), x.shape).astype(np.float32)
    image = Image.fromarray(np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(40, 96)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def random_placement(
    rng: np.random.Generator,
    size: tuple[int, int] = PHOTO_SIZE,
    side: tuple[float, float] = (64, 240),
    max_angle: float = 15.0,
) -> Placement:
    """A face square of log-uniform `side` (pixels), turned by up to `max_angle` degrees, lying
    wholly inside the photo."""
    width, height = size
    s = math.exp(rng.uniform(math.log(side[0]), math.log(side[1])))
    angle = math.radians(rng.uniform(-max_angle, max_angle))
    reach = s / 2 * (abs(math.cos(angle)) + abs(math.sin(angle)))  # half the rotated extent
    cx = rng.uniform(reach, width - reach)
    cy = rng.uniform(reach, height - reach)
    return Placement(cx, cy, s, angle)


def tint(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grey face (S, S) as a colour image with a mild skin-like tint (S, S, 3)."""
    gains = np.array([1.0, rng.uniform(0.85, 0.97), rng.uniform(0.7, 0.92)], np.float32)
    rgb = face.astype(np.float32)[:, :, None] * gains
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def camera_photo(
    face: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int] = PHOTO_SIZE,
    effects: bool = True,
) -> tuple[np.ndarray, Placement]:
    """A camera-like photo (H, W, 3) uint8 holding `face` (S, S) grey, and where it went.

    `effects=False` leaves out what a camera adds (tint, rotation, exposure, blur, noise,
    JPEG): the face is only upscaled and placed, to tell framing from image quality."""
    if not effects:
        placement = random_placement(rng, size, max_angle=0)
        return place_face(face, random_background(rng, size), placement), placement
    placement = random_placement(rng, size)
    photo = place_face(tint(face, rng), random_background(rng, size), placement)
    return camera_effects(photo, rng), placement


def tight_photo(
    face: np.ndarray,
    rng: np.random.Generator,
    side: tuple[float, float] = (96, 240),
    effects: bool = True,
) -> tuple[np.ndarray, Placement]:
    """The face alone, upscaled to a log-uniform `side` (pixels) and filling the whole photo, as
    face datasets store their crops; with what a camera adds unless `effects=False`."""
    s = round(math.exp(rng.uniform(math.log(side[0]), math.log(side[1]))))
    placement = Placement(s / 2, s / 2, s)
    photo = place_face(tint(face, rng) if effects else face, np.zeros((s, s, 3)), placement)
    return (camera_effects(photo, rng) if effects else photo), placement
