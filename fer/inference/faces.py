"""Face detection with MTCNN (facenet-pytorch's networks, batched by `mtcnn.py`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer.inference.tracking import iou


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the image
    prob: float  # detector confidence
    landmarks: tuple[tuple[float, float], ...] | None = None  # eyes, nose, mouth corners (x, y)


class FaceDetector:
    """MTCNN over RGB uint8 images (H, W, 3); `detect` takes a batch of same-size images.

    `detect_photos` searches a photo without a face found once more inside a border of `pad`
    of its size on each side, filled with its mean colour: MTCNN misses many faces that fill
    the whole image (tight crops, as face datasets store them) and finds them with room around
    them. `pad=0` turns the second search off. `runtime`: torch, or onnx (the networks fer ships
    as ONNX files: no torch needed)."""

    def __init__(
        self,
        device: Any = None,
        min_face_size: int = 20,
        threshold: float = 0.9,
        pad: float = 0.25,
        runtime: str = "torch",
    ) -> None:
        from fer.inference.mtcnn import BatchedMTCNN  # heavy: imported only when detection is used

        if pad < 0:
            raise ValueError(f"pad must be >= 0 (a share of the photo's size), got {pad}")
        if runtime == "torch" and device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.mtcnn = BatchedMTCNN(min_face_size=min_face_size, device=device, runtime=runtime)
        self.threshold = threshold
        self.pad = pad

    def with_min_face(self, min_face_size: int) -> FaceDetector:
        """This detector searching down to another face size; the networks are shared, not
        loaded again."""
        other = copy.copy(self)
        other.mtcnn = copy.copy(self.mtcnn)
        other.mtcnn.min_face_size = min_face_size
        return other

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

    def detect_photos(self, images: list[np.ndarray]) -> list[list[Face]]:
        """`detect`, then for each photo where none was found, once more with a border around
        it (`pad`); boxes and landmarks are in the photo's own pixels either way."""
        found = self.detect(images)
        if self.pad > 0:
            found = [faces or self.detect_padded(im) for im, faces in zip(images, found)]
        return found

    def detect_padded(self, image: np.ndarray) -> list[Face]:
        """The faces of one photo searched inside a border of its mean colour (`pad` of its size
        on each side), in the photo's own pixels (a box may reach past its edges)."""
        import cv2

        h, w = image.shape[:2]
        py, px = round(h * self.pad), round(w * self.pad)
        fill = [float(v) for v in image.reshape(-1, image.shape[2]).mean(0)]
        padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=fill)
        return [
            Face(
                (f.box[0] - px, f.box[1] - py, f.box[2] - px, f.box[3] - py),
                f.prob,
                tuple((x - px, y - py) for x, y in f.landmarks) if f.landmarks else None,
            )
            for f in self.detect([padded])[0]
        ]


class TrackingDetector:
    """Faster detection for live video: the whole frame every `full_every` frames (and whenever
    a face was lost), and in between only a region around each face already found, shrunk so
    the face is about 64 px. Both searches are MTCNN; a region costs about a third of a
    640x480 frame. New faces appear within `full_every` frames."""

    REGION = 2.0  # region side / face side
    FACE_PX = 64  # face side in the shrunk region

    def __init__(self, full: FaceDetector, full_every: int = 10) -> None:
        self.full = full
        self.region = full.with_min_face(24)
        self.full_every = full_every
        self.frames = 0
        self.faces: list[Face] = []

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces per image, the images taken as consecutive frames of one video."""
        return [self._detect(image) for image in images]

    def _detect(self, image: np.ndarray) -> list[Face]:
        due = self.frames % self.full_every == 0 or not self.faces
        self.frames += 1
        found: list[Face] = []
        for face in [] if due else self.faces:
            again = self._around(image, face)
            if again and all(iou(again.box, f.box) < 0.5 for f in found):  # regions overlap
                found.append(again)
        if due or len(found) < len(self.faces):  # a face was lost: look everywhere
            found = self.full.detect([image])[0]
            self.frames = 1
        self.faces = found
        return found

    def _around(self, image: np.ndarray, face: Face) -> Face | None:
        """The most confident face in the shrunk region around `face`, in image pixels."""
        import cv2

        x1, y1, x2, y2 = face.box
        side = max(x2 - x1, y2 - y1) * self.REGION
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
        right = int(min(cx + side / 2, image.shape[1]))
        bottom = int(min(cy + side / 2, image.shape[0]))
        if right - left < 12 or bottom - top < 12:
            return None
        scale = self.FACE_PX * self.REGION / side  # region pixels per image pixel
        size = (max(int((right - left) * scale), 12), max(int((bottom - top) * scale), 12))
        region = cv2.resize(image[top:bottom, left:right], size, interpolation=cv2.INTER_AREA)
        faces = self.region.detect([region])[0]
        if not faces:
            return None
        best = faces[0]
        sx, sy = (right - left) / size[0], (bottom - top) / size[1]

        def back(x: float, y: float) -> tuple[float, float]:
            return (left + x * sx, top + y * sy)

        bx1, by1 = back(*best.box[:2])
        bx2, by2 = back(*best.box[2:])
        marks = tuple(back(x, y) for x, y in best.landmarks) if best.landmarks else None
        return Face((bx1, by1, bx2, by2), best.prob, marks)
