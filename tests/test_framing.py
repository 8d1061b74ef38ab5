"""Framing: crops cut from detections land where a face's training frame was."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from fer.analysis.camera import Placement, place_face, random_background, tight_photo
from fer.framing import FER2013, Framing, mean_square
from fer.inference.faces import FaceDetector


def test_margin_framing_is_the_grown_box():
    cx, cy, side, angle = Framing.from_margin(0.2).square((10, 20, 110, 120))
    assert (cx, cy, side, angle) == (60, 70, pytest.approx(140), 0)
    with pytest.raises(ValueError, match="margin"):
        Framing.from_margin(-0.5)


def test_crop_of_a_placed_face_gives_the_face_back():
    """Pure geometry: a face placed at a known square, cropped at that square, is the face."""
    noise = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    face = cv2.GaussianBlur(noise, (0, 0), 2)  # smooth: resampling keeps it, shifts do not
    face = ((face - face.min()) / (face.max() - face.min()) * 255).astype(np.uint8)
    background = np.zeros((300, 400, 3), np.uint8)
    placement = Placement(cx=180.3, cy=140.7, side=144, angle=math.radians(12))
    photo = place_face(face, background, placement)
    crop = placement.cut(photo)
    assert crop.shape[:2] == (144, 144)
    back = np.asarray(Image.fromarray(crop[:, :, 0]).resize((48, 48)))
    inner = (slice(4, -4), slice(4, -4))  # the pasted square's anti-aliased rim aside
    assert np.abs(back[inner].astype(int) - face[inner]).mean() < 1
    shifted = back[5:-3, 4:-4].astype(int)  # one pixel off is clearly worse
    assert np.abs(shifted - face[inner]).mean() > 5


def test_tight_photo_is_the_face_filling_the_photo():
    noise = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    face = cv2.GaussianBlur(noise, (0, 0), 2)
    face = ((face - face.min()) / (face.max() - face.min()) * 255).astype(np.uint8)
    photo, placement = tight_photo(face, np.random.default_rng(1), effects=False)
    side = photo.shape[0]
    assert photo.shape == (side, side, 3) and 96 <= side <= 240
    assert (placement.cx, placement.cy, placement.side) == (side / 2, side / 2, side)
    back = np.asarray(Image.fromarray(photo[:, :, 0]).resize((48, 48)))
    assert np.abs(back[2:-2, 2:-2].astype(int) - face[2:-2, 2:-2]).mean() < 1.5


def test_crop_outside_the_image_stays_square():
    image = np.full((100, 100, 3), 50, np.uint8)
    crop = Framing.from_margin(0.5).crop(image, (-20, -20, 40, 40))
    assert crop.shape == (120, 120, 3)
    assert (crop == 50).all()  # edge pixels repeated, not black, not squashed


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("cpu")


@pytest.mark.parametrize("angle_deg", [-12, 0, 9])
def test_placed_face_is_cropped_back_to_its_frame(detector, angle_deg):
    """A real face, framed from its detection, placed elsewhere at a known size and rotation,
    then detected and cropped again: the crop lands on the placed frame within a few pixels
    of the 48×48 face."""
    astronaut = skimage.data.astronaut()
    (face,) = detector.detect([astronaut])[0][:1]
    framing = Framing(FER2013.scale, FER2013.dx, FER2013.dy, level_eyes=True)
    # The face with as much context again around it, so the detector sees a whole head.
    context = Framing(2 * framing.scale, framing.dx, framing.dy, level_eyes=True)
    cut = context.crop(astronaut, face.box, face.landmarks)
    background = random_background(np.random.default_rng(1))
    placed = Placement(cx=300.5, cy=250.5, side=2 * 130, angle=math.radians(angle_deg))
    photo = place_face(cut, background, placed)

    (found,) = detector.detect([photo])[0][:1]
    unit = 48 / (placed.side / 2)  # pixels of the 48×48 face per photo pixel
    cx, cy, side, angle = framing.square(found.box, found.landmarks)
    assert math.hypot(cx - placed.cx, cy - placed.cy) * unit < 2.0
    assert abs(side - placed.side / 2) * unit < 2.0
    assert abs(math.degrees(angle) - angle_deg) < 3.0
    # The landmarks' crop (FER2013's anchors) lands on the same frame, turned the same way.
    cx, cy, side, angle = FER2013.landmark_square(found.landmarks)
    assert math.hypot(cx - placed.cx, cy - placed.cy) * unit < 3.0
    assert abs(side - placed.side / 2) * unit < 3.0
    assert abs(math.degrees(angle) - angle_deg) < 3.0
    # So does the one crop FER2013's framing cuts, halfway between the two.
    ((cx, cy, side, angle),) = FER2013.squares(found.box, found.landmarks)
    assert math.hypot(cx - placed.cx, cy - placed.cy) * unit < 2.5
    assert abs(side - placed.side / 2) * unit < 2.5
    assert abs(math.degrees(angle) - angle_deg) < 3.0


def test_landmark_square_is_the_similarity_that_carries_the_anchors():
    """Pure geometry: landmarks that are the anchors moved, scaled and turned give that frame."""
    framing = Framing(anchors=((-0.2, -0.1), (0.2, -0.1), (0.0, 0.1), (-0.15, 0.3), (0.15, 0.3)))
    cx, cy, side, angle = 210.0, 145.0, 120.0, math.radians(-14)
    cos, sin = math.cos(angle), math.sin(angle)
    landmarks = [
        (cx + side * (cos * x - sin * y), cy + side * (sin * x + cos * y))
        for x, y in framing.anchors
    ]
    assert framing.landmark_square(landmarks) == pytest.approx((cx, cy, side, angle))
    assert len(framing.squares((0, 0, 10, 10), landmarks)) == 2
    assert framing.landmark_square([(5.0, 5.0)] * 5) is None  # no frame in a single point
    assert framing.landmark_square(None) is None  # a detection without landmarks: box only


def test_stored_framing_round_trips_and_old_ones_stay_box_only():
    assert Framing.from_dict(FER2013.to_dict()) == FER2013  # JSON lists back to tuples
    old = {"scale": 1.085, "dx": 0.003, "dy": -0.016, "level_eyes": True}  # before anchors
    framing = Framing.from_dict(old)
    assert framing.anchors is None
    image = np.zeros((100, 100, 3), np.uint8)
    marks = ((40, 40), (60, 40), (50, 50), (42, 60), (58, 60))
    assert len(framing.crops(image, (30, 30, 70, 70), marks)) == 1
    # stored with anchors but before one_crop existed: the two crops it was measured with
    two = Framing.from_dict({**old, "anchors": FER2013.to_dict()["anchors"]})
    assert not two.one_crop and len(two.crops(image, (30, 30, 70, 70), marks)) == 2
    assert two.crops_per_face == 2 and FER2013.crops_per_face == 1


def test_one_crop_lies_halfway_between_the_box_square_and_the_landmark_square():
    """Geometry: the one crop's centre is the two squares' mean, its side their geometric mean,
    its angle their mean (through ±180°, not around 0), and it is the only crop taken."""
    framing = replace(FER2013, one_crop=True)
    box, marks = (30.0, 30.0, 70.0, 70.0), ((40, 42), (60, 38), (51, 50), (43, 61), (59, 58))
    a, b = framing.square(box, marks), framing.landmark_square(marks)
    assert a[:3] != pytest.approx(b[:3])  # two estimates that differ
    ((cx, cy, side, angle),) = framing.squares(box, marks)
    assert (cx, cy) == pytest.approx(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    assert side == pytest.approx(math.sqrt(a[2] * b[2]))
    assert angle == pytest.approx((a[3] + b[3]) / 2)
    near_pi = mean_square((0, 0, 1, math.pi - 0.1), (0, 0, 1, -math.pi + 0.1))
    assert abs(near_pi[3]) == pytest.approx(math.pi)
    assert len(framing.crops(np.zeros((100, 100, 3), np.uint8), box, marks)) == 1
    assert framing.squares(box, None) == [framing.square(box)]  # no landmarks: the box's
