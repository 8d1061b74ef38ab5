"""What every predictor does around its network: detect faces in images, cut them as the model's
faces were framed, classify every crop in one batch and average per face.

`Predictor` (torch) and `OnnxPredictor` (onnxruntime) subclass `FaceClassifier`, which needs of
them only `predict_faces` (face crops -> probabilities), `classes`, `framing`, `tta` and the face
detector they run (`make_detector`); nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fer.framing import Framing
from fer.inference.faces import Face, FaceDetector
from fer.modelinfo import TTA_MODES, TTA_VIEWS


@dataclass(frozen=True)
class FacePrediction:
    box: tuple[float, float, float, float] | None  # None when the whole image was the face
    det_prob: float | None
    probs: np.ndarray  # (num_classes,), sums to 1
    classes: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.classes[int(self.probs.argmax())]


class FaceClassifier:
    """The image-level half of a predictor (see the module's docstring)."""

    classes: tuple[str, ...]
    framing: Framing
    tta: str
    _detector: FaceDetector | None = None

    def predict_faces(
        self, faces: Sequence[Image.Image | np.ndarray] | np.ndarray, tta: str | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def make_detector(self) -> FaceDetector:
        raise NotImplementedError

    def resolve_tta(self, tta: str | None) -> str:
        """`tta`, or the model's own when None; ValueError for an unknown mode."""
        tta = self.tta if tta is None else tta
        if tta not in TTA_VIEWS:
            raise ValueError(f"unknown tta {tta!r}; valid choices: {', '.join(TTA_MODES)}")
        return tta

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = self.make_detector()
        return self._detector

    def predict_image(
        self,
        image: Image.Image | np.ndarray,
        detect: bool = True,
        tta: str | None = None,
        framing: Framing | None = None,
    ) -> list[FacePrediction]:
        """Every face in a photo (detect=True), or the whole image as one face; [] if none found.

        Faces are cut as `framing` says, by default as the model's training faces were framed."""
        return self.predict_images([image], detect=detect, tta=tta, framing=framing)[0]

    def predict_images(
        self,
        images: Sequence[Image.Image | np.ndarray],
        detect: bool = True,
        tta: str | None = None,
        framing: Framing | None = None,
    ) -> list[list[FacePrediction]]:
        """`predict_image` for many images: detection batched per image size, faces together."""
        rgb = [
            np.asarray(im.convert("RGB")) if isinstance(im, Image.Image) else _as_rgb(im)
            for im in images
        ]
        if not detect:
            probs = self.predict_faces(rgb, tta)
            return [[FacePrediction(None, None, p, self.classes)] for p in probs]
        found = self.detector.detect_photos(rgb)
        probs = self.classify_detections(rgb, found, tta, framing)
        return [
            [FacePrediction(f.box, f.prob, p, self.classes) for f, p in zip(faces, face_probs)]
            for faces, face_probs in zip(found, probs)
        ]

    def classify_detections(
        self,
        images: Sequence[np.ndarray],
        detections: Sequence[Sequence[Face]],
        tta: str | None = None,
        framing: Framing | None = None,
    ) -> list[list[np.ndarray]]:
        """Probabilities of each detected face of each RGB image: the face cut as `framing`
        says (default: the model's own), every crop it takes classified in one batch and
        averaged per face (a framing with anchors and without `one_crop` takes the box's crop
        and the landmarks')."""
        framing = framing or self.framing
        crops, counts = [], []  # every crop, face after face; how many each face has
        for image, faces in zip(images, detections):
            for face in faces:
                views = framing.crops(image, face.box, face.landmarks)
                crops += views
                counts.append(len(views))
        probs = self.predict_faces(crops, tta)
        per_face = iter(p.mean(0) for p in np.split(probs, np.cumsum(counts)[:-1]))
        return [[next(per_face) for _ in faces] for faces in detections]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return image[:, :, :3]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image
