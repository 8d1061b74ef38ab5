"""The Predictor and fer-predict: any image, the CSV contract, no face, unreadable files."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from fer import Predictor
from fer.analysis.evaluate import evaluate
from fer.checkpoint import export_model, resolve_checkpoint
from fer.cli.predict import main
from fer.data.hdf5 import read_split
from fer.fer2013 import CLASSES
from fer.inference.predictor import tta_views
from fer.inference.rows import header
from fer.modelinfo import DEFAULT_MODEL, TTA_VIEWS, CheckpointError
from fer.preprocess import equalize, normalize

from conftest import face_photo, read_metrics, trained_run


@pytest.fixture(scope="module")
def predictor(shared_tiny_run):
    return Predictor.load(shared_tiny_run)


def test_probabilities_for_any_input_form(predictor, tiny_h5):
    face = read_split(tiny_h5, "PrivateTest")[0][3]  # uint8 48x48
    rgb = np.repeat(face[:, :, None], 3, axis=2)
    big = np.asarray(Image.fromarray(face).resize((160, 130)))  # odd size, not square
    rgba = np.concatenate([rgb, np.full((48, 48, 1), 255, np.uint8)], axis=2)
    forms = [face, rgb, Image.fromarray(face), Image.fromarray(rgb), rgba, big]
    probs = predictor.predict_faces(forms)
    assert probs.shape == (6, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    for p in probs[1:5]:  # grey, colour, PIL and RGBA of the same face agree
        np.testing.assert_allclose(p, probs[0], atol=1e-6)
    assert predictor.predict_faces([]).shape == (0, 7)


def test_flip_tta_averages_the_mirror_image(predictor, tiny_h5):
    images, labels = read_split(tiny_h5, "PrivateTest")
    probs = predictor.predict_faces(images, tta="flip")
    mirrored = predictor.predict_faces(images[:, :, ::-1].copy())
    np.testing.assert_allclose(probs, (predictor.predict_faces(images) + mirrored) / 2, atol=1e-6)
    assert (probs.argmax(1) == labels).mean() > 0.5


def test_crops_tta_averages_ten_views(predictor, tiny_h5):
    images = read_split(tiny_h5, "PrivateTest")[0][:8]
    x = normalize(torch.from_numpy(images), predictor.info.mean, predictor.info.std)
    views = tta_views(x, "crops")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    assert len({v.numpy().tobytes() for v in views}) == 10  # all different
    torch.testing.assert_close(views[0], x)  # the face itself, then four shifts by 4 pixels
    pad = 4
    for view, (dy, dx) in zip(views[1:5], ((pad, pad), (pad, -pad), (-pad, pad), (-pad, -pad))):
        torch.testing.assert_close(
            torch.roll(x, (dy, dx), (-2, -1))[..., 8:-8, 8:-8], view[..., 8:-8, 8:-8]
        )  # away from the reflected border
    for view, mirror in zip(views[:5], views[5:]):
        torch.testing.assert_close(mirror, view.flip(-1))
    manual = torch.stack([predictor.probabilities(v) for v in views]).mean(0).numpy()
    np.testing.assert_allclose(predictor.predict_faces(images, tta="crops"), manual, atol=1e-6)


def test_view_counts_match_the_views_made():
    x = torch.zeros(3, 1, 48, 48)
    for mode, count in TTA_VIEWS.items():  # predict_faces sizes its batches by these counts
        assert len(tta_views(x, mode)) == count, mode


def test_no_detect_on_image_files_equals_fer_eval(tiny_run, tiny_h5, tmp_path):
    images, labels = read_split(tiny_h5, "PrivateTest")
    for i, (image, label) in enumerate(zip(images, labels)):
        (tmp_path / "faces" / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "faces" / CLASSES[label] / f"PrivateTest_{i}.png")
    assert (
        main(
            [
                "--model",
                str(tiny_run),
                "--no-detect",
                str(tmp_path / "faces"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == len(labels)
    accuracy = np.mean([r["label"] == r["path"].split("/")[-2] for r in rows])
    report = evaluate(tiny_run, "test", out=str(tmp_path / "eval"), log_wandb=False)
    assert accuracy == pytest.approx(report["accuracy"], abs=1e-9)


def test_csv_contract_with_faces_no_face_and_unreadable(tiny_run, tmp_path, capsys):
    Image.new("RGB", (320, 240), (120, 130, 140)).save(tmp_path / "wall.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    photo = face_photo()
    code = main(
        [
            "--model",
            str(tiny_run),
            str(photo),
            str(tmp_path / "wall.png"),
            str(tmp_path / "broken.jpg"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and "cannot read" in captured.err and "broken.jpg" in captured.err
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert rows[0] == header(CLASSES)
    by_path = {r[0]: r for r in rows[1:]}
    face = by_path[str(photo)]
    x1, y1, x2, y2 = map(float, face[2:6])
    width, height = Image.open(photo).size
    assert (
        face[1] == "0" and 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height and float(face[6]) > 0.9
    )
    assert sum(map(float, face[7:14])) == pytest.approx(1, abs=1e-4) and face[14] in CLASSES
    wall = by_path[str(tmp_path / "wall.png")]
    assert wall[1] == "" and all(v == "" for v in wall[2:])
    assert len(rows) == 3  # header, the face, the empty row; the broken file only on stderr


def test_portrait_photo_with_exif_orientation_is_read_upright(tiny_run, tmp_path, capsys):
    # A phone stores a portrait photo sideways and tags it "rotate 90° clockwise to view"
    # (EXIF orientation 6); boxes are reported on the photo as a viewer shows it.
    upright = Image.open(face_photo()).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.save(tmp_path / "upright.jpg", quality=100)
    upright.transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "phone.jpg", quality=100, exif=exif
    )
    assert main(["--model", str(tiny_run), str(tmp_path / "upright.jpg")]) == 0
    assert main(["--model", str(tiny_run), str(tmp_path / "phone.jpg")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    faces = [r for r in rows if r[0] != "path"]
    assert len(faces) == 2 and all(r[1] == "0" for r in faces)
    boxes = [np.array(r[2:6], dtype=float) for r in faces]
    np.testing.assert_allclose(boxes[1], boxes[0], atol=3)  # pixels, after JPEG re-encoding


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nothing"), str(face_photo())]) == 1
    assert "no such checkpoint or run directory" in capsys.readouterr().err
    if not DEFAULT_MODEL.is_file():
        with pytest.raises(CheckpointError, match="no default model"):
            resolve_checkpoint(None)


def test_equalize_is_opencvs_per_face_and_per_channel(tiny_h5):
    faces = read_split(tiny_h5, "PrivateTest")[0][:16]
    faces[0] = 77  # a face of one grey level stays flat
    ours = equalize(torch.from_numpy(faces)).numpy()
    np.testing.assert_array_equal(ours, np.stack([cv2.equalizeHist(f) for f in faces]))
    rgb = np.stack([faces, 255 - faces, faces // 2], axis=-1)
    per_channel = equalize(torch.from_numpy(rgb)).numpy()
    for c in range(3):
        np.testing.assert_array_equal(
            per_channel[..., c], np.stack([cv2.equalizeHist(f) for f in rgb[..., c]])
        )


def test_an_equalizing_model_keeps_it_and_ignores_exposure(tiny_h5, tiny_run, tmp_path):
    """preprocess.equalize=true is stored with the model, and inference equalises too: a face
    seen at half the contrast and brighter gives the same answer (equalisation undoes any
    one-to-one, order-keeping change of grey levels); a model without it answers differently."""
    run = trained_run(tiny_h5, tmp_path / "run", "preprocess.equalize=true")
    equalizing = Predictor.load(run)
    assert equalizing.info.equalized and not Predictor.load(tiny_run).info.equalized
    exported = export_model(run, tmp_path / "model.safetensors")
    assert Predictor.load(exported).info.equalized
    faces = read_split(tiny_h5, "PrivateTest")[0][:32] // 2 * 2  # even levels: x // 2 is 1:1
    dimmer = faces // 2 + 60
    np.testing.assert_allclose(
        equalizing.predict_faces(dimmer), equalizing.predict_faces(faces), atol=1e-6
    )
    plain = Predictor.load(tiny_run)
    assert not np.allclose(plain.predict_faces(dimmer), plain.predict_faces(faces), atol=1e-3)
    # training validated what inference sees: the run's val accuracy is the Predictor's
    images, labels = read_split(tiny_h5, "PublicTest")
    accuracy = (equalizing.predict_faces(images).argmax(1) == labels).mean()
    assert accuracy == pytest.approx(read_metrics(run)["val"]["acc"], abs=1e-6)


def test_a_models_own_tta_is_the_default_everywhere(tiny_run, tiny_h5, tmp_path):
    from fer.checkpoint import set_tta

    model = export_model(tiny_run / "checkpoints" / "best.ckpt", tmp_path / "m.safetensors")
    assert Predictor.load(model).tta == "none" == Predictor.load(tiny_run).tta  # not chosen yet
    set_tta(model, "crops")
    with pytest.raises(ValueError, match="unknown tta"):
        set_tta(model, "rotate")
    chosen = Predictor.load(model)
    assert chosen.tta == "crops"
    images = read_split(tiny_h5, "PrivateTest")[0][:12]
    plain = Predictor.load(tiny_run).predict_faces(images)
    np.testing.assert_allclose(chosen.predict_faces(images, tta="none"), plain, atol=1e-6)
    with_crops = chosen.predict_faces(images)
    np.testing.assert_allclose(with_crops, chosen.predict_faces(images, tta="crops"), atol=1e-6)
    assert not np.allclose(with_crops, plain, atol=1e-4)

    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    probs = {}
    for tta in (None, "none"):
        out = tmp_path / f"{tta}.csv"
        argv = ["--model", str(model), "--no-detect", *(["--tta", tta] if tta else [])]
        assert (
            main([*argv, *(str(tmp_path / f"{i}.png") for i in range(12)), "--out", str(out)]) == 0
        )
        rows = sorted(csv.DictReader(out.open()), key=lambda r: int(r["path"].split("/")[-1][:-4]))
        probs[tta] = np.array([[float(r[c]) for c in CLASSES] for r in rows])
    np.testing.assert_allclose(probs[None], with_crops, atol=1e-4)
    np.testing.assert_allclose(probs["none"], plain, atol=1e-4)
    report = evaluate(model, "test", data=str(tiny_h5), out=str(tmp_path / "ev"), log_wandb=False)
    assert report["tta"] == "crops"
