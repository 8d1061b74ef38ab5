"""The one preprocessing path from pixels to network input, shared by training and inference.

Training stores faces as uint8 S×S grey (FER2013: 48×48) or S×S×3 RGB; a Predictor turns any
image into the same form with `to_input` and both then call `normalize`. Two copies would drift,
so there is only this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from fer.fer2013 import IMAGE_SIZE, MEAN, STD  # defaults: a model's own come from its checkpoint

if TYPE_CHECKING:  # torch is imported where it is used: the onnxruntime path runs without it
    import torch

# Image files fer reads (conversion and prediction alike).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})


def to_grey(image: Image.Image | np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
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
        return to_grey(image, size)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image.squeeze()))
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each uint8 image (and each channel of RGB ones) of a batch: the grey
    levels a face uses are spread over 0-255 by their cumulative frequency, as OpenCV's
    equalizeHist does, so exposure, contrast and gamma no longer change what the model sees."""
    import torch

    shape = images.shape
    flat = images.reshape(shape[0], -1, shape[-1]) if images.dim() == 4 and shape[-1] == 3 else None
    planes = flat.permute(0, 2, 1) if flat is not None else images.reshape(shape[0], 1, -1)
    planes = planes.reshape(-1, planes.shape[-1]).long()  # (B * C, pixels)
    counts = torch.zeros(planes.shape[0], 256, dtype=torch.long, device=images.device)
    counts.scatter_add_(1, planes, torch.ones_like(planes))
    cdf = counts.cumsum(1)
    first = torch.where(counts > 0, cdf, cdf[:, -1:]).min(1, keepdim=True).values  # cdf(min level)
    span = cdf[:, -1:] - first
    lut = ((cdf - first).clamp(min=0).double() * 255 / span.clamp(min=1)).round().to(torch.uint8)
    identity = torch.arange(256, device=images.device, dtype=torch.uint8).expand_as(lut)
    lut = torch.where(span > 0, lut, identity)  # a face of one grey level stays as it is
    flat_out = lut.gather(1, planes)
    if flat is not None:
        return flat_out.reshape(shape[0], shape[-1], -1).permute(0, 2, 1).reshape(shape)
    return flat_out.reshape(shape)


def equalize_array(images: np.ndarray) -> np.ndarray:
    """`equalize` on a numpy batch, uint8 (B, H, W) or (B, H, W, 3): the same table per face and
    channel, for the onnxruntime path (tests/test_onnx_runtime.py holds the two equal)."""
    rgb = images.ndim == 4 and images.shape[-1] == 3
    planes = images.transpose(0, 3, 1, 2) if rgb else images
    planes = planes.reshape(-1, planes.shape[-2] * planes.shape[-1]).astype(np.int64)
    offsets = (np.arange(len(planes)) * 256)[:, None]
    counts = np.bincount((planes + offsets).ravel(), minlength=256 * len(planes))
    counts = counts.reshape(len(planes), 256)
    cdf = counts.cumsum(1)
    first = np.where(counts > 0, cdf, cdf[:, -1:]).min(1, keepdims=True)  # cdf(min level)
    span = cdf[:, -1:] - first
    lut = np.round(np.clip(cdf - first, 0, None).astype(np.float64) * 255 / np.maximum(span, 1))
    lut = np.where(span > 0, lut.astype(np.uint8), np.arange(256, dtype=np.uint8))
    out = np.take_along_axis(lut, planes, 1).astype(np.uint8)
    if rgb:
        b, h, w, c = images.shape
        return out.reshape(b, c, h, w).transpose(0, 2, 3, 1)
    return out.reshape(images.shape)


def normalize(
    images: torch.Tensor, mean: float = MEAN, std: float = STD, equalized: bool = False
) -> torch.Tensor:
    """uint8 (B, H, W) grey, (B, H, W, 3) RGB or (B, C, H, W) -> float32 (B, C, H, W): scaled
    to [0, 1], standardised; histogram-equalised first when `equalized` (uint8 input only)."""
    if equalized:
        images = equalize(images)
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (B, 1, H, W)
    elif images.dim() == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2)  # (B, H, W, 3) -> (B, 3, H, W)
    return (images.float() / 255.0 - mean) / std
