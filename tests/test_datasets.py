"""Other labelled face sets: class folders into the dataset format, format 1 files, and
cross-dataset evaluation with classes matched by name."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from fer.cli.compare import main as compare_main
from fer.cli.evaluate import main as eval_main
from fer.cli.prepare import main as prepare_main
from fer.data.datamodule import FERDataModule
from fer.data.folders import canonical, parse_fractions
from fer.data.hdf5 import FER2013_FILE, DatasetError, dataset_info, dataset_meta, read_split
from fer.data.sources import PrepareError
from fer.fer2013 import CLASSES, USAGES
from fer.inference.predictor import Predictor

from conftest import make_faces, trained_run


def folder_set(root: Path, per_class: int = 4) -> Path:
    """Happiness/, anger/, Contempt/ and neutral/ folders of faces in mixed sizes and modes
    (RGBA PNG, grey JPEG, 64x80 RGB), and a stray text file."""
    faces, labels = make_faces(per_class, seed=3)
    names = {3: "Happiness", 0: "anger", 6: "neutral"}
    for k, (face, label) in enumerate(zip(faces, labels)):
        folder = names.get(int(label))
        if folder is None:
            continue
        (root / folder).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(face)
        if k % 3 == 0:
            image.convert("RGBA").save(root / folder / f"{k}.png")
        elif k % 3 == 1:
            image.save(root / folder / f"{k}.jpg", quality=95)
        else:
            image.convert("RGB").resize((64, 80)).save(root / folder / f"{k}.png")
    (root / "Contempt").mkdir()
    for k in range(3):
        Image.fromarray(faces[k]).save(root / "Contempt" / f"c{k}.png")
    (root / "anger" / "notes.txt").write_text("not an image")
    return root


def test_a_folder_set_with_synonyms_and_an_unknown_class(tmp_path, capsys):
    root = folder_set(tmp_path / "photos")
    assert prepare_main([str(root), "-o", str(tmp_path / "photos.h5"), "-q"]) == 0
    out, err = capsys.readouterr()
    assert "class folder 'Happiness' -> happy" in out and "'anger' -> angry" in out
    assert "skipped 1: not an image file (.txt)" in err
    meta, counts = dataset_info(tmp_path / "photos.h5")
    assert meta.classes == ("angry", "happy", "neutral", "contempt")  # fer's order, then others
    assert meta.splits == ("test",) and meta.roles == {"test": "test"}
    assert counts["test"].tolist() == [4, 4, 4, 3]
    images, labels = read_split(tmp_path / "photos.h5", "test", classes=None)
    assert images.shape == (15, 48, 48) and images.dtype == np.uint8
    with pytest.raises(DatasetError, match="its classes are angry, happy, neutral, contempt"):
        read_split(tmp_path / "photos.h5", "test")  # training code asks for FER2013's classes


def test_split_size_channels_and_chosen_classes(tmp_path, capsys):
    root = folder_set(tmp_path / "photos", per_class=10)
    code = prepare_main(
        [str(root), "-o", str(tmp_path / "rgb.h5"), "-q", "--size", "64", "--channels", "3"]
        + ["--split", "train=0.6,val=0.2,test=0.2", "--classes", "happy,angry"]
    )
    assert code == 0
    meta, counts = dataset_info(tmp_path / "rgb.h5")
    assert meta.classes == ("happy", "angry") and meta.channels == 3 and meta.image_size == 64
    assert {s: c.tolist() for s, c in counts.items()} == {
        "train": [6, 6],
        "val": [2, 2],
        "test": [2, 2],
    }
    images, _ = read_split(tmp_path / "rgb.h5", "train", classes=None)
    assert images.shape == (12, 64, 64, 3)
    assert "class 'neutral' not chosen by --classes" in capsys.readouterr().err
    again = prepare_main(
        [str(root), "-o", str(tmp_path / "rgb2.h5"), "-q", "--size", "64", "--channels", "3"]
        + ["--split", "train=0.6,val=0.2,test=0.2", "--classes", "happy,angry"]
    )
    assert again == 0  # seeded: the same split twice
    for split in ("train", "val", "test"):
        first = read_split(tmp_path / "rgb.h5", split, classes=None)[0]
        np.testing.assert_array_equal(first, read_split(tmp_path / "rgb2.h5", split, None)[0])


def test_train_val_test_folders_and_bad_options(tmp_path, capsys):
    faces, labels = make_faces(2)
    for split in ("train", "test"):
        for k, (face, label) in enumerate(zip(faces, labels)):
            folder = tmp_path / "set" / split / ("Surprised" if label == 5 else CLASSES[label])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(face).save(folder / f"{k}.png")
    assert prepare_main([str(tmp_path / "set"), "-o", str(tmp_path / "s.h5"), "-q"]) == 0
    meta = dataset_meta(tmp_path / "s.h5")
    assert meta.splits == ("train", "test") and meta.classes == CLASSES
    assert canonical("Surprised") == "surprise" and canonical("Contempt") == "contempt"
    with pytest.raises(PrepareError, match="sum to 1.1"):
        parse_fractions("train=0.8,val=0.3")
    assert prepare_main([str(tmp_path / "set"), "-o", str(tmp_path / "x.h5"), "--split", "a"]) == 1
    assert "--split 'a'" in capsys.readouterr().err


def test_a_format_1_file_still_opens(tmp_path):
    path = tmp_path / "old.h5"
    faces, labels = make_faces(2)
    with h5py.File(path, "w") as f:  # what fer-prepare wrote before format 2
        f.attrs["classes"] = list(CLASSES)
        f.attrs["format_version"] = 1
        for usage in USAGES:
            f.create_group(usage).create_dataset("images", data=faces)
            f[usage].create_dataset("labels", data=labels)
    assert dataset_meta(path) == FER2013_FILE
    images, read_labels = read_split(path, "PrivateTest")
    np.testing.assert_array_equal(read_labels, labels)


def test_cross_dataset_evaluation_with_a_missing_and_an_extra_class(tiny_run, tmp_path, capsys):
    root = folder_set(tmp_path / "photos", per_class=6)
    assert prepare_main([str(root), "-o", str(tmp_path / "photos.h5"), "-q"]) == 0
    out = tmp_path / "eval"
    code = eval_main(
        ["--model", str(tiny_run), "--data", str(tmp_path / "photos.h5"), "--no-wandb"]
        + ["--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "dropped 3 faces of 'contempt': a class the model does not know" in printed
    report = json.loads((out / "metrics.json").read_text())
    assert report["dataset"] == "photos" and report["n"] == 18
    assert report["dropped"] == {"contempt": 3}
    assert report["classes_not_in_data"] == ["disgust", "fear", "sad", "surprise"]
    assert set(report["per_class"]) == {"angry", "happy", "neutral"}
    # The same numbers by hand: the model's classes, the data's faces mapped by name.
    images, labels = read_split(tmp_path / "photos.h5", "test", classes=None)
    keep = labels < 3  # angry, happy, neutral; contempt is 3
    truth = np.array([CLASSES.index(("angry", "happy", "neutral")[k]) for k in labels[keep]])
    probs = Predictor.load(tiny_run).predict_faces(images[keep])
    assert report["accuracy"] == pytest.approx((probs.argmax(1) == truth).mean())
    recall_happy = (probs.argmax(1)[truth == 3] == 3).mean()
    assert report["per_class"]["happy"]["recall"] == pytest.approx(recall_happy)
    # Into the run directory by default, and fer-compare shows it as a column.
    assert eval_main(["--model", str(tiny_run), "--data", str(tmp_path / "photos.h5")]) == 0
    assert (tiny_run / "eval" / "photos-test" / "metrics.json").is_file()
    capsys.readouterr()
    assert compare_main([str(tiny_run), "-o", str(tmp_path / "cmp")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "photos-test_acc" in table[0]
    assert f"{report['accuracy']:.4f}" in table[1]


def test_a_dataset_without_the_asked_role_is_a_clear_error(tiny_run, tmp_path, capsys):
    root = folder_set(tmp_path / "photos")
    assert prepare_main([str(root), "-o", str(tmp_path / "photos.h5"), "-q"]) == 0
    capsys.readouterr()
    code = eval_main(
        ["--model", str(tiny_run), "--data", str(tmp_path / "photos.h5"), "--split", "val"]
        + ["--no-wandb", "--out", str(tmp_path / "e")]
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "fer-eval: error: the photos data has no val split (it has: test)"
    )


def test_a_folder_set_with_fer_classes_trains_and_an_evaluation_set_says_why_not(tmp_path):
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        faces, labels = make_faces(16, seed=seed)
        for k, (face, label) in enumerate(zip(faces, labels)):
            folder = tmp_path / "set" / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(face).save(folder / f"{k}.png")
    assert prepare_main([str(tmp_path / "set"), "-o", str(tmp_path / "set.h5"), "-q"]) == 0
    record = trained_run(tmp_path / "set.h5", tmp_path / "run")
    metrics = json.loads((record / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["test"]["acc"] > 2 / 7  # twice chance
    folder_set(tmp_path / "photos")
    assert prepare_main([str(tmp_path / "photos"), "-o", str(tmp_path / "p.h5"), "-q"]) == 0
    data = FERDataModule(path=str(tmp_path / "p.h5"))  # an evaluation-only set
    with pytest.raises(DatasetError, match="the photos data has no train split"):
        data.setup()


def rgb_faces(per_class: int, seed: int, size: int = 64, classes: int = 8):
    """Learnable RGB faces: noise with a coloured band whose row depends on the class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    images = rng.integers(0, 120, size=(len(labels), size, size, 3)).astype(np.uint8)
    for image, label in zip(images, labels):
        image[4 + 7 * label : 9 + 7 * label, :, label % 3] = 240
    return images, labels


def test_a_64px_rgb_8_class_set_trains_evaluates_predicts_and_runs_on_video(tmp_path, capsys):
    from fer.app.results import analyze_photo
    from fer.cli.predict import main as predict_main
    from fer.inference.video import analyze_video

    from conftest import face_photo, make_clip

    names = [*CLASSES, "contempt"]
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        images, labels = rgb_faces(12, seed)
        for k, (image, label) in enumerate(zip(images, labels)):
            folder = tmp_path / "set8" / split / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{k}.png")
    data = tmp_path / "set8.h5"
    assert (
        prepare_main(
            [str(tmp_path / "set8"), "-o", str(data), "-q", "--size", "64"] + ["--channels", "3"]
        )
        == 0
    )
    run_dir = trained_run(data, tmp_path / "run", "model.width=8")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["test"]["acc"] > 2 / 8
    predictor = Predictor.load(run_dir)
    assert predictor.classes == tuple(names) and predictor.info.channels == 3
    assert predictor.info.input_size == 64
    # fer-eval on its own data: the same accuracy as training measured on the same faces.
    capsys.readouterr()
    assert eval_main(["--model", str(run_dir), "--no-wandb"]) == 0
    report = json.loads((run_dir / "eval" / "test" / "metrics.json").read_text())
    assert report["accuracy"] == pytest.approx(metrics["test"]["acc"], abs=1e-6)
    assert len(report["per_class"]) == 8 and report["n"] == 96
    # fer-predict --no-detect on an image file: eight probabilities.
    images, labels = read_split(data, "test", classes=None)
    Image.fromarray(images[0]).save(tmp_path / "face.png")
    csv_out = tmp_path / "pred.csv"
    assert (
        predict_main(
            [
                str(tmp_path / "face.png"),
                "--model",
                str(run_dir),
                "--no-detect",
                "--out",
                str(csv_out),
            ]
        )
        == 0
    )
    header = csv_out.read_text().splitlines()[0].split(",")
    assert "contempt" in header
    # A video and a photo through detection: faces cut, resized to 64x64 RGB, eight classes.
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0)
    summary = analyze_video(predictor, clip, tmp_path / "video", fps=1.0)
    assert summary["face_coverage"] == 1.0 and set(summary["mean_probability"]) == set(names)
    frames_header = (tmp_path / "video" / "frames.csv").read_text().splitlines()[0]
    assert "contempt" in frames_header and "contempt_smoothed" in frames_header
    photo = analyze_photo(predictor, face_photo(), tmp_path / "app")
    assert len(photo.rows) == 1 and "contempt" in photo.header


def write_votes(path: Path, rows: list[tuple[str, str, list[int]]]) -> Path:
    lines = [
        "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    ]
    lines += [f"{u},{name},{','.join(map(str, v))}" for u, name, v in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ferplus_majority_and_soft_targets_on_a_synthetic_pair(tmp_path, capsys):
    from fer.data.ferplus import FERPLUS_CLASSES, majority
    from fer.data.hdf5 import read_votes

    from conftest import write_csv

    written = write_csv(tmp_path / "fer2013.csv", per_class=8)  # 56 rows per usage, in order
    # Votes per row: the face's own FER2013 class wins 7 of 10, except a few planted rows.
    column = {0: 4, 1: 5, 2: 6, 3: 1, 4: 3, 5: 2, 6: 0}  # FER2013 label -> vote column
    rows = []
    for usage in USAGES:
        for k, label in enumerate(written[usage][1]):
            votes = [0] * 10
            votes[column[int(label)]] = 7
            votes[7] = 3  # contempt
            name = f"fer{len(rows):07d}.png"
            if k == 0:
                votes = [0] * 8 + [0, 10]  # not a face, no name: skipped
                name = ""
            elif k == 1:
                votes = [0] * 8 + [10, 0]  # all unknown: skipped
            elif k == 2:
                votes = [3, 3, 2, 2, 0, 0, 0, 0, 0, 0]  # no majority: skipped
            elif k == 3:
                votes = [1, 0, 0, 0, 0, 0, 0, 9, 0, 0]  # contempt wins
            rows.append((usage, name, votes))
    votes_file = write_votes(tmp_path / "fer2013new.csv", rows)
    out = tmp_path / "ferplus.h5"
    assert (
        prepare_main([str(tmp_path / "fer2013.csv"), "--ferplus", str(votes_file), "-o", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "skipped 3 rows: no image name (not a face)" in printed
    assert "skipped 3 rows: no majority" in printed
    meta, counts = dataset_info(out)
    assert meta.classes == FERPLUS_CLASSES and meta.name == "ferplus"
    assert counts["Training"].sum() == 56 - 3 and counts["Training"][7] == 1  # one contempt
    images, labels = read_split(out, "Training", classes=None)
    votes = read_votes(out, "Training")
    assert votes.shape == (53, 8) and np.allclose(votes.sum(1), 1)
    assert (votes.argmax(1) == labels).all()
    np.testing.assert_array_equal(images[1], written["Training"][0][4])  # row order kept
    assert majority(np.array([4, 0, 0, 1, 3, 2, 0, 0, 0, 0])) is None  # 4 of 9 kept votes
    assert majority(np.array([6, 0, 0, 1, 3, 0, 0, 0, 0, 0])) == CLASSES.index("neutral")
    for targets in ("majority", "soft"):
        run_dir = trained_run(out, tmp_path / targets, f"data.targets={targets}", "model.width=8")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "completed" and len(metrics["test"]) > 0
        assert Predictor.load(run_dir).classes == FERPLUS_CLASSES


def test_ferplus_needs_the_csv_and_soft_targets_need_votes(tmp_path, tiny_h5, capsys):
    from conftest import folder_entries, write_folder

    folder = write_folder(tmp_path / "kaggle", folder_entries())
    votes = write_votes(tmp_path / "v.csv", [])
    assert prepare_main([str(folder), "--ferplus", str(votes), "-o", str(tmp_path / "x.h5")]) == 1
    assert "FER+ needs the original fer2013.csv" in capsys.readouterr().err
    data = FERDataModule(path=str(tiny_h5), targets="soft")
    with pytest.raises(DatasetError, match="data.targets=soft needs label distributions"):
        data.setup()


def test_detect_cuts_the_face_out_of_photographs(tmp_path, capsys):
    from conftest import face_photo

    (tmp_path / "photos" / "happy").mkdir(parents=True)
    photo = Image.open(face_photo()).convert("RGB")
    canvas = Image.new("RGB", (photo.width * 2, photo.height * 2), (90, 90, 90))
    canvas.paste(photo, (photo.width // 2, photo.height // 3))  # a face somewhere in a photo
    canvas.save(tmp_path / "photos" / "happy" / "person.jpg")
    Image.new("RGB", (320, 240), (120, 120, 120)).save(tmp_path / "photos" / "happy" / "wall.jpg")
    out = tmp_path / "faces.h5"
    assert prepare_main([str(tmp_path / "photos"), "-o", str(out), "-q", "--detect"]) == 0
    assert "skipped 1: no face found (e.g. happy/wall.jpg)" in capsys.readouterr().err
    images, labels = read_split(out, "test", classes=None)
    assert images.shape == (1, 48, 48) and labels.tolist() == [0]
    # The crop is the face, framed as inference frames it (one crop, between the box's square
    # and the landmarks'): the shipped model reads it as fer reads the same photograph through
    # detection; the box's crop alone differs.
    predictor = Predictor.load()
    direct = predictor.predict_faces(images)[0]
    saved = Image.open(tmp_path / "photos" / "happy" / "person.jpg")
    (through,) = predictor.predict_image(saved)
    np.testing.assert_allclose(direct, through.probs, atol=1e-4)
    box_only = dataclasses.replace(predictor.framing, anchors=None)
    (boxed,) = predictor.predict_image(saved, framing=box_only)
    assert not np.allclose(direct, boxed.probs, atol=1e-4)


def test_photos_with_exif_orientation_are_read_upright(tmp_path):
    from conftest import face_photo

    upright = Image.open(face_photo()).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view": a phone's portrait photo
    for label in ("happy", "sad"):
        (tmp_path / "photos" / label).mkdir(parents=True)
    upright.save(tmp_path / "photos" / "happy" / "upright.jpg", quality=100)
    upright.transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "photos" / "sad" / "phone.jpg", quality=100, exif=exif
    )
    for mode in ([], ["--detect"]):  # the centre square, and the detected face
        out = tmp_path / f"faces{len(mode)}.h5"
        assert prepare_main([str(tmp_path / "photos"), "-o", str(out), "-q", *mode]) == 0
        images, labels = read_split(out, "test", classes=None)
        assert sorted(labels.tolist()) == [0, 1]  # happy, sad: the classes present
        happy, sad = images[np.argsort(labels)].astype(float)
        assert np.abs(happy - sad).mean() < 3, mode  # the same face, not a sideways one
