"""The one preprocessing path from pixels to network input, shared by training and inference.

Training stores faces as uint8 48x48 grey; a Predictor turns any image into the same form with
`to_grey48` and both then call `normalize`. Two copies would drift, so there is only this one.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from fer.labels import IMAGE_SIZE

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


def normalize(images: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """uint8 (B, H, W) or (B, 1, H, W) -> float32 (B, 1, H, W): scaled to [0, 1], standardised."""
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (B, 1, H, W)
    return (images.float() / 255.0 - mean) / std
