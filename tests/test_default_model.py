"""The model shipped in the package: loads without pickle, finds and reads a smiling face."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from fer import Predictor
from fer.modelinfo import DEFAULT_MODEL

from conftest import SHARED

pytestmark = pytest.mark.skipif(
    not DEFAULT_MODEL.is_file(), reason="no model shipped in fer/assets"
)


def test_shipped_model_is_small_safetensors_with_a_card():
    assert DEFAULT_MODEL.stat().st_size <= 20 * 1024 * 1024  # an ensemble ships within 20 MiB
    with safe_open(str(DEFAULT_MODEL), framework="pt") as f:  # safetensors: no pickle at all
        meta = json.loads(f.metadata()["fer"])
    assert meta["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    card = json.loads((DEFAULT_MODEL.parent / "card.json").read_text())
    assert {"val", "test", "test_flip"} <= set(card) and card["test"]["n"] == 3589
    assert (DEFAULT_MODEL.parent / "MODEL_CARD.md").is_file()


def test_astronaut_is_happy_through_face_detection():
    from skimage import data

    faces = Predictor.load().predict_image(data.astronaut())  # --model omitted: the shipped model
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert 150 < (x1 + x2) / 2 < 300 and 50 < (y1 + y2) / 2 < 200  # her face, upper middle
    assert faces[0].label == "happy" and faces[0].probs.max() == pytest.approx(faces[0].probs[3])
    assert np.isclose(faces[0].probs.sum(), 1, atol=1e-5)


def test_a_face_is_classified_on_one_crop_between_its_box_and_its_landmarks():
    """The shipped framing cuts a detected face once, between its box's square and its
    landmarks' square; a framing without `one_crop` averages the two crops; without anchors the
    box's crop alone."""
    from dataclasses import replace

    from skimage import data

    from fer.framing import cut_square

    photo = data.astronaut()
    predictor = Predictor.load()
    framing = predictor.framing
    assert framing.anchors is not None and framing.one_crop  # what the shipped model stores
    (face,) = predictor.detector.detect_photos([photo])[0]
    (found,) = predictor.predict_image(photo)
    box = framing.square(face.box, face.landmarks)
    marks = framing.landmark_square(face.landmarks)
    both = predictor.predict_faces([cut_square(photo, box), cut_square(photo, marks)])
    assert not np.allclose(both[0], both[1])  # two different crops
    (one,) = predictor.predict_faces(framing.crops(photo, face.box, face.landmarks))
    np.testing.assert_allclose(found.probs, one, atol=1e-6)
    (averaged,) = predictor.predict_image(photo, framing=replace(framing, one_crop=False))
    np.testing.assert_allclose(averaged.probs, both.mean(0), atol=1e-6)
    (alone,) = predictor.predict_image(photo, framing=replace(framing, anchors=None))
    np.testing.assert_allclose(alone.probs, both[0], atol=1e-6)


def test_fer_predict_works_without_model_or_dataset(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    result = subprocess.run(
        [sys.executable, "-m", "fer.cli.predict", str(tmp_path / "astronaut.png")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # no data/ here
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[1].split(",")
    assert row[1] == "0" and row[-1] == "happy"


SHARED_VIDEOS = sorted((SHARED / "video").glob("*.mp4")) + sorted((SHARED / "video").glob("*.flv"))


@pytest.mark.skipif(not SHARED_VIDEOS, reason="no ../shared/video beside the repository")
def test_shared_videos_give_a_face_in_every_sampled_frame(tmp_path):
    """The real clips through detection and the model's framing: no sampled frame is lost."""
    from fer.inference.video import analyze_video

    predictor = Predictor.load()
    for video in SHARED_VIDEOS:
        summary = analyze_video(
            predictor, video, tmp_path / video.stem, fps=2.0, write_annotated=False
        )
        assert summary["frames_sampled"] >= 2, video
        assert summary["face_coverage"] == 1.0, video


def test_the_shipped_model_says_its_classes_channels_and_size_and_loading_uses_them(tmp_path):
    """Each member's config carries num_classes, in_chans and input_size, so it rebuilds from
    the file and not from the builders' defaults; a file written before that (the three keys
    absent) is completed from its own metadata, not from the defaults, and loads the same."""
    from safetensors.torch import load_file, save_file

    from fer.checkpoint import load_model

    with safe_open(str(DEFAULT_MODEL), framework="pt") as f:
        info = json.loads(f.metadata()["fer"])
    for member in info["model"]["members"]:
        assert (member["num_classes"], member["in_chans"], member["input_size"]) == (
            len(info["classes"]),
            info["channels"],
            info["input_size"],
        )
    shape = ("num_classes", "in_chans", "input_size")
    older = info | {
        "model": info["model"]
        | {
            "members": [
                {k: v for k, v in m.items() if k not in shape} for m in info["model"]["members"]
            ]
        }
    }
    old_file = tmp_path / "older.safetensors"
    save_file(load_file(str(DEFAULT_MODEL)), str(old_file), metadata={"fer": json.dumps(older)})
    faces = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(load_model(None)[0](faces), load_model(old_file)[0](faces))
