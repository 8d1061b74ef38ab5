"""A fer model on onnxruntime: the file `fer-export` writes, used as the Predictor is, no torch.

    from fer.inference.onnx_predictor import OnnxPredictor
    predictor = OnnxPredictor.load("light.onnx")
    probs = predictor.predict_faces(face_crops)       # (N, classes), rows sum to 1
    faces = predictor.predict_image(photo)            # MTCNN on onnxruntime too

The ONNX graph standardises its input itself (pixels 0..255); what the Predictor does around
its network (the face's size and channels, histogram equalisation, test-time augmentation,
framing a detected face, averaging a face's crops) is done here in numpy from the file's
metadata, the same way, so the two runtimes give the same probabilities up to rounding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer.framing import Framing
from fer.inference.classifier import FaceClassifier
from fer.inference.faces import FaceDetector
from fer.inference.onnx_session import cpu_session
from fer.modelinfo import DEFAULT_ONNX, TTA_MODES, TTA_VIEWS, ModelInfo
from fer.preprocess import equalize_array, to_input

CROP_PAD = 4  # as the torch path's 'crops' TTA: 5 shifted crops of a reflect-padded face


def tta_views(pixels: np.ndarray, mode: str) -> list[np.ndarray]:
    """Views of faces (B, C, H, W): none (1), flip (2), crops (10: 5 shifts x flip), as
    `fer.inference.predictor.tta_views` takes them."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown tta {mode!r}; valid choices: {', '.join(TTA_MODES)}")
    views = [pixels]
    if mode == "crops":
        h, w = pixels.shape[-2:]
        pad = ((0, 0), (0, 0), (CROP_PAD, CROP_PAD), (CROP_PAD, CROP_PAD))
        padded = np.pad(pixels, pad, mode="reflect")
        p2 = 2 * CROP_PAD
        views += [
            padded[..., i : i + h, j : j + w] for i, j in ((0, 0), (0, p2), (p2, 0), (p2, p2))
        ]
    if mode == "none":
        return views
    return views + [v[..., ::-1] for v in views]


def read_info(metadata: dict[str, str]) -> ModelInfo:
    """The ModelInfo an exported file's metadata describes (see fer.inference.onnx_export)."""
    try:
        size = json.loads(metadata["fer.input"])
        norm = json.loads(metadata["fer.normalisation"])
        return ModelInfo(
            classes=list(json.loads(metadata["fer.classes"])),
            input_size=int(size["size"]),
            mean=float(norm["mean"]),
            std=float(norm["std"]),
            model=json.loads(metadata.get("fer.model", "{}")),
            framing=json.loads(metadata.get("fer.framing", "null")),
            channels=int(size.get("channels", 1)),
            equalized=bool(json.loads(metadata.get("fer.equalized", "false"))),
            tta=metadata.get("fer.tta", "none"),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"not a fer ONNX export (metadata: {e})") from None


class OnnxPredictor(FaceClassifier):
    """A model exported by `fer-export`, on onnxruntime's CPU provider."""

    def __init__(self, session: Any, info: ModelInfo, batch_size: int = 256) -> None:
        self.session, self.info = session, info
        self.input = session.get_inputs()[0].name
        self.classes = tuple(info.classes)
        self.framing = Framing.from_dict(info.framing)
        self.tta = info.tta
        self.batch_size = batch_size
        self._detector: FaceDetector | None = None

    @classmethod
    def load(cls, path: str | Path | None = None, **options: Any) -> OnnxPredictor:
        """From a `.onnx` file written by fer-export (None: the shipped model's); `options`:
        batch_size."""
        path = Path(path) if path is not None else DEFAULT_ONNX
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        session = cpu_session(path, "running a fer model exported to ONNX")
        info = read_info(dict(session.get_modelmeta().custom_metadata_map))
        scores = session.get_outputs()[0].shape[-1]
        if isinstance(scores, int) and scores != len(info.classes):
            raise ValueError(
                f"{path}: its head gives {scores} scores for {len(info.classes)} names"
            )
        return cls(session, info, **options)

    def make_detector(self) -> FaceDetector:
        return FaceDetector(runtime="onnx")

    def preprocess(self, faces: Sequence[Image.Image | np.ndarray] | np.ndarray) -> np.ndarray:
        """Faces of any size, colour or grey -> float32 pixels (N, C, S, S), 0..255, equalised
        when the model's training faces were."""
        size, channels = self.info.input_size, self.info.channels
        stored = (size, size) if channels == 1 else (size, size, 3)
        if isinstance(faces, np.ndarray) and faces.shape[1:] == stored:
            images = np.ascontiguousarray(faces, dtype=np.uint8)
        else:
            images = np.stack([to_input(f, size, channels) for f in faces])
        if self.info.equalized:
            images = equalize_array(images)
        pixels = images[:, None] if channels == 1 else images.transpose(0, 3, 1, 2)
        return pixels.astype(np.float32)

    def predict_faces(
        self, faces: Sequence[Image.Image | np.ndarray] | np.ndarray, tta: str | None = None
    ) -> np.ndarray:
        """Emotion probabilities (N, classes) for face crops. `tta`: none, flip or crops; None:
        the model's own (`self.tta`)."""
        tta = self.resolve_tta(tta)
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        pixels = self.preprocess(faces)
        step = max(1, self.batch_size // TTA_VIEWS[tta])
        out = []
        for start in range(0, len(pixels), step):
            views = tta_views(pixels[start : start + step], tta)
            batch = np.ascontiguousarray(np.concatenate(views))
            probs = self.session.run(None, {self.input: batch})[0]
            out.append(probs.reshape(len(views), -1, probs.shape[-1]).mean(0))
        return np.concatenate(out).astype(np.float32)
