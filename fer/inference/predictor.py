"""The Predictor: a loaded model plus the shared preprocessing, for faces and whole images.

from fer import Predictor
predictor = Predictor.load("outputs/2026-11-28/10-45-27")   # run dir, .ckpt, .safetensors, None
probs = predictor.predict_faces(face_crops)                   # (N, 7), rows sum to 1
faces = predictor.predict_image(photo)                        # detect, crop, classify

Test-time augmentation (`tta`) defaults to the model's own choice (`predictor.tta`: made on
PublicTest when the model was shipped; `none` for checkpoints); pass `tta=` to override.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fer.checkpoint import load_model
from fer.framing import Framing
from fer.inference.classifier import FaceClassifier, FacePrediction  # noqa: F401 - re-exported
from fer.inference.compiled import CompiledNet
from fer.inference.faces import FaceDetector
from fer.modelinfo import TTA_MODES, TTA_VIEWS, ModelInfo
from fer.models.fused import fuse_for_inference
from fer.preprocess import normalize, to_input
from fer.runtime import resolve_precision

CROP_PAD = 4  # the training crops' padding: 'crops' TTA takes 5 shifted crops of a padded face
# On CPU the fused network goes through in chunks of at most this many images: oneDNN's bf16
# grouped convolutions take 0.78 ms an image in batches of up to 10 and 1.2-1.4 ms beyond (2-core
# AVX512-BF16 Xeon; `scripts/bench/bench_predict.py`), so a face's 20 views take 15 ms, not 25.
CPU_CHUNK = 10


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Views of normalised faces (B, C, H, W): none (1), flip (2), crops (10: 5 shifts x flip)."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown tta {mode!r}; valid choices: {', '.join(TTA_MODES)}")
    if mode == "none":
        return [x]
    views = [x]
    if mode == "crops":
        h, w = x.shape[-2:]
        padded = F.pad(x, (CROP_PAD,) * 4, mode="reflect")
        p2 = 2 * CROP_PAD
        views = [x] + [
            padded[..., i : i + h, j : j + w] for i, j in ((0, 0), (0, p2), (p2, 0), (p2, p2))
        ]
    return views + [v.flip(-1) for v in views]


class Predictor(FaceClassifier):
    """A model on torch (CPU or GPU; bf16 where supported, CNNs fused, optionally compiled)."""

    def __init__(
        self,
        model: torch.nn.Module,
        info: ModelInfo,
        device: str | None = None,
        batch_size: int = 256,
        precision: str = "auto",  # auto: bf16 where the CPU/GPU supports it (as training), else 32
        fuse: bool = True,  # run same-shaped CNNs as one grouped network (fer.models.fused)
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.bf16 = resolve_precision(precision, self.device.type) == "bf16-mixed"
        # What classifies: the model, or its CNNs fused into one grouped network (an ensemble's
        # members side by side, batch norms folded; equal up to rounding, faster), whose
        # weights are cast to bf16 once here rather than by autocast at every call.
        fused = fuse_for_inference(self.model) if fuse else None
        if fused is not None and self.bf16:
            fused = fused.to(torch.bfloat16)
        self.net = (fused or self.model).to(self.device, memory_format=torch.channels_last)
        self.info = info
        self.classes = tuple(info.classes)
        self.framing = Framing.from_dict(info.framing)  # how faces are cut from detections
        self.tta = info.tta  # the test-time augmentation chosen with the model
        self.batch_size = batch_size
        self._detector: FaceDetector | None = None
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.net  # or compiled

    def compile(self, tta: str | None = None) -> CompiledNet:
        """Compile the network now for what a long live view classifies, a face alone and its
        views under `tta` (default: the model's own); other batches stay eager. Returns what
        was done (`compiled`, `compile_seconds`); when compiling fails nothing changes."""
        tta = self.resolve_tta(tta)
        batch_sizes = {1, min(TTA_VIEWS[tta], self._chunk or TTA_VIEWS[tta])}
        size, channels = self.info.input_size, self.info.channels
        compiled = CompiledNet(
            self.net, batch_sizes, (channels, size, size), self.device, self.bf16
        )
        if compiled.compiled:
            self._forward = compiled
        return compiled

    @property
    def _chunk(self) -> int | None:
        """Images a forward pass takes at most (the fused network on a CPU), or None: all."""
        return CPU_CHUNK if self.device.type == "cpu" and self.net is not self.model else None

    @classmethod
    def load(
        cls, path: str | Path | None = None, device: str | None = None, **options: Any
    ) -> Predictor:
        """From a run directory, a .ckpt, an exported .safetensors, or None (the shipped model);
        `options`: the constructor's (batch_size, precision, fuse)."""
        model, info = load_model(path)
        return cls(model, info, device, **options)

    def make_detector(self) -> FaceDetector:
        return FaceDetector(self.device)

    def preprocess(self, faces: Sequence[Image.Image | np.ndarray] | np.ndarray) -> torch.Tensor:
        """Faces of any size, colour or grey -> uint8 (N, S, S) grey or (N, S, S, 3) RGB, as
        the model's training data was."""
        size, channels = self.info.input_size, self.info.channels
        stored = (size, size) if channels == 1 else (size, size, 3)
        if isinstance(faces, np.ndarray) and faces.shape[1:] == stored:
            return torch.from_numpy(np.ascontiguousarray(faces, dtype=np.uint8))  # as stored
        return torch.from_numpy(np.stack([to_input(f, size, channels) for f in faces]))

    @torch.inference_mode()
    def predict_faces(
        self, faces: Sequence[Image.Image | np.ndarray] | np.ndarray, tta: str | None = None
    ) -> np.ndarray:
        """Emotion probabilities (N, num_classes) for face crops; batched on the model's device.

        `tta`: none, flip or crops; None: the model's own (`self.tta`)."""
        tta = self.resolve_tta(tta)
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        images = self.preprocess(faces)
        # All views of a chunk of faces go through the network as one batch (a face alone
        # with crops TTA: one forward of 10, not 10 of one), at most `batch_size` images.
        step = max(1, self.batch_size // TTA_VIEWS[tta])
        out = []
        for start in range(0, len(images), step):
            x = normalize(
                images[start : start + step].to(self.device),
                self.info.mean,
                self.info.std,
                self.info.equalized,
            )
            views = tta_views(x, tta)
            probs = self.probabilities(torch.cat(views)).view(len(views), len(x), -1)
            out.append(probs.mean(0).cpu())
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of the model on normalised faces (B, 1, H, W), in the predictor's precision."""
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        chunk = self._chunk or len(x)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            return torch.cat(
                [self._forward(part).float().softmax(-1) for part in x.split(max(1, chunk))]
            )
