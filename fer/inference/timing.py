"""How long a predictor (torch or onnxruntime) takes to classify one face: the number model
cards and benchmarks quote."""

from __future__ import annotations

import time

import numpy as np

from fer.inference.classifier import FaceClassifier


def ms_per_face(
    predictor: FaceClassifier,
    faces: np.ndarray,
    repeats: int = 200,
    tta: str = "none",
    crops: int = 1,
) -> float:
    """Median milliseconds to classify one face (preprocessing included), batch of one, after
    a warm-up of ten faces; `faces` (N, S, S) are cycled through. `crops`: how many crops the
    face is cut into and classified together (a detected face: `Framing.crops_per_face`)."""
    n = len(faces)
    batches = [faces[(i + np.arange(crops)) % n] for i in range(max(repeats, 10))]
    for batch in batches[:10]:
        predictor.predict_faces(batch, tta)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        predictor.predict_faces(batches[i], tta)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def ms_per_photo(predictor: FaceClassifier, photos: list[np.ndarray], repeats: int = 20) -> float:
    """Median milliseconds for a whole photo as fer-predict handles it: detect every face, cut
    and classify each with the model's own test-time augmentation; `photos` (RGB arrays) are
    cycled through after a warm-up of one pass (at most three photos)."""
    for photo in photos[:3]:
        predictor.predict_image(photo)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        predictor.predict_image(photos[i % len(photos)])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))
