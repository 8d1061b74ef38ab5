"""Reading images for inference: files and folders of them, opened fully or refused.

A photo's pixels are bounded before anything is decoded in full: an image over `MAX_PIXELS` is
refused (a 445 KB flat PNG can hold 144M pixels, and a face detector's image pyramid built at
that size takes tens of GB), and one whose longer side exceeds `MAX_SIDE` is downscaled to it,
as detectors that serve photos do; `downscaled(image)` says by how much.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fer.preprocess import IMAGE_SUFFIXES


def image_paths(paths: list[str]) -> Iterator[Path]:
    """Files as given (any suffix: a bad one is reported when read); folders recursively."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


MAX_SIDE = 2560  # longer side a detector sees: a face of 40 px in a 12000 px photo stays 9 px
MAX_PIXELS = 150_000_000  # refused above (12247²); PIL's own guard stops only above 179M
SCALE_KEY = "fer_downscaled"  # image.info: the factor the image was reduced by


def read_image(path: Path) -> Image.Image:
    """Open an image fully, upright as a viewer shows it (a phone's portrait photo is stored
    sideways with an EXIF orientation tag), in RGB, its longer side at most MAX_SIDE;
    OSError / ValueError if it cannot be read or has over MAX_PIXELS pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # bounded here instead
        image = Image.open(path)
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(
                f"{width}x{height} is over {MAX_PIXELS / 1e6:.0f}M pixels; downscale it first"
            )
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced size; others whole
        image.load()
        upright = eight_bit(ImageOps.exif_transpose(image))
    upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)  # no-op when small
    if max(upright.size) < max(width, height):  # reduced here or while decoding (JPEG draft)
        upright.info[SCALE_KEY] = max(width, height) / max(upright.size)
    return upright


def eight_bit(image: Image.Image) -> Image.Image:
    """`image` in RGB, 16- and 32-bit grey scaled to 8 bits (not clipped at 255, which turns a
    16-bit photo white)."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        image = Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8))
    return image.convert("RGB")


def downscaled(image: Image.Image) -> float | None:
    """The factor `read_image` reduced `image` by, or None if it kept its size."""
    return image.info.get(SCALE_KEY)
