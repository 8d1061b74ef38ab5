"""The one preprocessing path from pixels to network input, shared by training and inference.

Training stores faces as uint8 S×S grey (FER2013: 48×48) or S×S×3 RGB; a Predictor turns any
image into the same form with `to_input` and both then call `normalize`. Two copies would drift,
so there is only this one.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGE_SIZE = 48  # FER2013's faces; a model's own size comes from its checkpoint

# Image files fer reads (conversion and prediction alike).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

# Mean and std of FER2013 Training pixels scaled to [0, 1]; stored in every checkpoint.
MEAN = 0.5136
STD = 0.3067


def to_grey48(image: Image.Image | np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Any PIL image or HxW / HxWxC uint8 array (RGB order) -> uint8 (size, size) grey face."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        image = Image.fromarray(np.ascontiguousarray(image))
    if image.mode != "L":
        image = image.convert("L")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def to_input(
    image: Image.Image | np.ndarray, size: int = IMAGE_SIZE, channels: int = 1
) -> np.ndarray:
    """Any image -> what a model trained on `channels` takes: uint8 (size, size) grey or
    (size, size, 3) RGB."""
    if channels == 1:
        return to_grey48(image, size)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image.squeeze()))
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def normalize(images: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """uint8 (B, H, W) grey, (B, H, W, 3) RGB or (B, C, H, W) -> float32 (B, C, H, W): scaled
    to [0, 1], standardised."""
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (B, 1, H, W)
    elif images.dim() == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2)  # (B, H, W, 3) -> (B, 3, H, W)
    return (images.float() / 255.0 - mean) / std
