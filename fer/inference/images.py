"""Reading images for inference: files and folders of them, opened fully or refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def read_image(path: Path) -> Image.Image:
    """Open an image fully, upright as a viewer shows it (a phone's portrait photo is stored
    sideways with an EXIF orientation tag), in RGB; OSError / ValueError if it cannot be read."""
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
