"""Training faces as the pipeline hands them to the model: each face put into a camera-like
photo, found by the detector and cut as the model's framing says, so that a model can learn
the crops it will meet in photos and videos (the detector's box moves with the expression,
cameras blur and compress) and not only FER2013's own.

    crops, source = detected_crops(images, detector, framing, rng)

`source[k]` is the row of `images` that crop k was cut from; faces the detector misses give
no crop. `scripts/experiments/detected_training_set.py` writes the crops beside the original
faces as a dataset file to train on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from fer.analysis.camera import Placement, camera_photo
from fer.framing import Framing
from fer.inference.faces import Face, FaceDetector
from fer.preprocess import to_input

BATCH = 16  # photos per detection batch


def placed_face(faces: Sequence[Face], placement: Placement) -> Face | None:
    """The most confident detection whose box centre lies within half the placed square's
    side of its centre (the face that was put there), or None when it was missed."""
    hits = [
        f
        for f in faces
        if math.hypot(
            (f.box[0] + f.box[2]) / 2 - placement.cx, (f.box[1] + f.box[3]) / 2 - placement.cy
        )
        < placement.side / 2
    ]
    return max(hits, key=lambda f: f.prob) if hits else None


def detected_crops(
    images: np.ndarray,
    detector: FaceDetector,
    framing: Framing,
    rng: np.random.Generator,
    size: int = 48,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Each face of `images` (N, S, S) grey uint8 in its own camera-like photo
    (`fer.analysis.camera.camera_photo`), detected and cut by `framing` (its first crop, the
    one inference classifies with `one_crop`), as grey uint8 (M, size, size); and for each
    crop the row of `images` it came from (M,). Missed faces give no crop."""
    crops, source = [], []
    batches = range(0, len(images), BATCH)
    for start in tqdm(batches, desc="detected crops", unit="batch", disable=not progress):
        made = [camera_photo(face, rng) for face in images[start : start + BATCH]]
        found = detector.detect_photos([photo for photo, _ in made])
        for k, ((photo, placement), faces) in enumerate(zip(made, found), start):
            face = placed_face(faces, placement)
            if face is not None:
                crops.append(to_input(framing.crop(photo, face.box, face.landmarks), size))
                source.append(k)
    if not crops:
        return np.zeros((0, size, size), np.uint8), np.zeros(0, np.int64)
    return np.stack(crops), np.array(source, np.int64)
