"""Face detection with MTCNN (facenet-pytorch's networks, batched by `mtcnn.py`), margin crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the image
    prob: float  # detector confidence


class FaceDetector:
    """MTCNN over RGB uint8 images (H, W, 3); `detect` takes a batch of same-size images."""

    def __init__(
        self,
        device: str | torch.device | None = None,
        min_face_size: int = 20,
        threshold: float = 0.9,
    ) -> None:
        from fer.inference.mtcnn import BatchedMTCNN  # heavy: imported only when detection is used

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.mtcnn = BatchedMTCNN(min_face_size=min_face_size, device=device)
        self.threshold = threshold

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces per image, most confident first; images of one size go through in one batch."""
        if not images:
            return []
        if len({im.shape for im in images}) > 1:
            return [self.detect([im])[0] for im in images]
        result = []
        for boxes, probs in self.mtcnn.detect(np.stack(images)):
            faces = [
                Face(tuple(float(v) for v in b), float(p))
                for b, p in zip(boxes, probs)
                if p >= self.threshold
            ]
            result.append(sorted(faces, key=lambda f: -f.prob))
        return result


def crop_face(
    image: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.2
) -> np.ndarray:
    """The square crop around `box`, grown by `margin` of its side on each side, clipped.

    FER2013 faces are tightly framed squares, so the crop is square around the box centre."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = image.shape[:2]
    left, top = int(round(max(cx - side / 2, 0))), int(round(max(cy - side / 2, 0)))
    right, bottom = int(round(min(cx + side / 2, w))), int(round(min(cy + side / 2, h)))
    return image[top : max(bottom, top + 1), left : max(right, left + 1)]
