"""Face detection with MTCNN (facenet-pytorch's networks, batched by `mtcnn.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the image
    prob: float  # detector confidence
    landmarks: tuple[tuple[float, float], ...] | None = None  # eyes, nose, mouth corners (x, y)


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
        for boxes, probs, points in self.mtcnn.detect(np.stack(images)):
            faces = [
                Face(
                    tuple(float(v) for v in b),
                    float(p),
                    tuple((float(x), float(y)) for x, y in marks),
                )
                for b, p, marks in zip(boxes, probs, points)
                if p >= self.threshold
            ]
            result.append(sorted(faces, key=lambda f: -f.prob))
        return result
