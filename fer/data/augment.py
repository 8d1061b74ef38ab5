"""Augmentation for 48x48 grey faces, built with albumentations from an `augment/*.yaml` preset."""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2

# Every key a preset may set; a preset leaves at zero whatever it does not use.
AUGMENT_KEYS = (
    "crop_padding",
    "hflip",
    "rotate",
    "scale",
    "translate",
    "brightness_contrast",
    "erasing",
    "gamma",
    "blur",
    "downscale",
    "jpeg",
)


def build_augment(config: dict[str, Any] | None, size: int = 48) -> A.Compose | None:
    """An albumentations pipeline on uint8 (H, W) faces, or None when nothing is enabled."""
    config = dict(config or {})
    unknown = set(config) - set(AUGMENT_KEYS) - {"name"}
    if unknown:
        raise ValueError(
            f"unknown augment keys {sorted(unknown)}; valid keys: {', '.join(AUGMENT_KEYS)}"
        )
    get = lambda key: float(config.get(key) or 0)  # noqa: E731
    steps: list[A.BasicTransform] = []
    if get("crop_padding") > 0:
        pad = int(get("crop_padding"))
        steps += [
            A.PadIfNeeded(size + 2 * pad, size + 2 * pad, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(size, size),
        ]
    if get("hflip") > 0:
        steps.append(A.HorizontalFlip(p=get("hflip")))
    if get("rotate") > 0 or get("scale") > 0 or get("translate") > 0:
        steps.append(
            A.Affine(
                rotate=(-get("rotate"), get("rotate")),
                scale=(1 - get("scale"), 1 + get("scale")),
                translate_percent=(-get("translate"), get("translate")),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.8,
            )
        )
    if get("brightness_contrast") > 0:
        b = get("brightness_contrast")
        steps.append(A.RandomBrightnessContrast(brightness_limit=b, contrast_limit=b, p=0.8))
    # What cameras do to a face (fer.analysis.camera makes the same in benchmark photos):
    # gamma is a range around 1, the others are probabilities.
    if get("gamma") > 0:
        g = get("gamma")
        steps.append(A.RandomGamma(gamma_limit=(100 * (1 - g), 100 * (1 + g)), p=0.5))
    if get("blur") > 0:
        steps.append(A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.0), p=get("blur")))
    if get("downscale") > 0:  # a small face upscaled to 48x48
        steps.append(
            A.Downscale(
                scale_range=(0.5, 0.9),
                interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
                p=get("downscale"),
            )
        )
    if get("jpeg") > 0:
        steps.append(A.ImageCompression(quality_range=(40, 95), p=get("jpeg")))
    if get("erasing") > 0:
        steps.append(A.Erasing(scale=(0.02, 0.2), p=get("erasing")))
    return A.Compose(steps) if steps else None
