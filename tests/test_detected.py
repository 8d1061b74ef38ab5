"""Detected training crops: a face put into a camera-like photo is found and cut back to
(nearly) the face it was, a face-free image gives no crop, and the dataset file holds the
original faces followed by the crops with their faces' labels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import skimage

from fer.analysis.detected import detected_crops
from fer.data.hdf5 import read_split, write_dataset
from fer.framing import FER2013
from fer.inference.faces import FaceDetector
from fer.preprocess import to_input

from conftest import REPO


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("cpu")


@pytest.fixture(scope="module")
def faces(detector) -> np.ndarray:
    """Four 48×48 grey faces: the astronaut (FER2013-framed, and mirrored), then two noise
    images that hold no face."""
    astronaut = skimage.data.astronaut()
    (face,) = detector.detect([astronaut])[0][:1]
    real = to_input(FER2013.crop(astronaut, face.box, face.landmarks))
    noise = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    return np.concatenate([real[None], real[None, :, ::-1], noise])


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_placed_faces_are_cut_back_and_noise_gives_no_crop(detector, faces):
    crops, source = detected_crops(faces, detector, FER2013, np.random.default_rng(3))
    assert crops.shape[1:] == (48, 48) and crops.dtype == np.uint8
    assert list(source) == [0, 1]  # both faces found, neither noise image
    for crop, row in zip(crops, source):
        # Camera effects, rotation and the detector's box change the crop a little, not what
        # it shows: it matches its own face, far better than the other (mirrored) one.
        assert correlation(crop, faces[row]) > 0.8
        assert correlation(crop, faces[row]) > correlation(crop, faces[1 - row]) + 0.1


def test_detected_training_set_adds_the_crops_after_the_faces(faces, tmp_path):
    source = tmp_path / "faces.h5"
    labels = np.array([3, 5, 0, 6])
    rest = (faces[:2], np.array([1, 2]))
    write_dataset(
        source, {"Training": (faces, labels), "PublicTest": rest, "PrivateTest": rest}, "t", ""
    )
    out = tmp_path / "detected.h5"
    script = [sys.executable, str(REPO / "scripts" / "experiments" / "detected_training_set.py")]
    result = subprocess.run(
        [*script, "--data", str(source), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "2 of 4 training faces found" in result.stdout
    images, out_labels = read_split(out, "Training")
    assert np.array_equal(images[:4], faces) and list(out_labels) == [3, 5, 0, 6, 3, 5]
    assert correlation(images[4], faces[0]) > 0.8
    for split in ("PublicTest", "PrivateTest"):
        kept, kept_labels = read_split(out, split)
        assert np.array_equal(kept, rest[0]) and np.array_equal(kept_labels, rest[1])

    refused = subprocess.run(
        [*script, "--data", str(source), "-o", str(source)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "overwrite the source" in refused.stderr
