"""Face detection on photos: the second, padded search for faces that fill the whole image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from fer.analysis.camera import random_background
from fer.inference.faces import FaceDetector

from conftest import face_photo


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("cpu")


def test_padded_search_reports_faces_in_the_photos_own_pixels(detector):
    hopper = cv2.cvtColor(cv2.imread(str(face_photo())), cv2.COLOR_BGR2RGB)
    for photo in (data.astronaut(), hopper):
        (plain,) = detector.detect([photo])[0]
        (padded,) = detector.detect_padded(photo)
        # The border moves MTCNN's image pyramid, so boxes agree to a few percent of the face,
        # not exactly; the border itself is 128-150 px here.
        size = plain.box[2] - plain.box[0]
        np.testing.assert_allclose(padded.box, plain.box, atol=0.05 * size)
        np.testing.assert_allclose(padded.landmarks, plain.landmarks, atol=0.05 * size)


def test_face_free_photos_stay_face_free_after_the_second_search(detector):
    rng = np.random.default_rng(0)
    photos = [random_background(rng) for _ in range(12)] + [np.full((240, 320, 3), 128, np.uint8)]
    assert all(faces == [] for faces in detector.detect_photos(photos))


def test_a_found_face_is_kept_as_found(detector):
    photo = data.astronaut()
    assert detector.detect_photos([photo]) == detector.detect([photo])


def test_a_negative_border_is_refused():
    with pytest.raises(ValueError, match="pad must be >= 0"):
        FaceDetector("cpu", pad=-0.1)
