"""fer-prepare on every input form, the HDF5 contract, and every bad input."""

from __future__ import annotations

import gzip
import subprocess
import sys

import h5py
import numpy as np
import pytest

from fer.cli.prepare import main
from fer.data.hdf5 import dataset_meta, read_split
from fer.fer2013 import CLASSES, USAGES

from conftest import folder_entries, image_bytes, make_faces, write_csv, write_folder, write_zip


def prepare(*args: str) -> int:
    return main([*map(str, args), "--quiet"])


def test_csv_converts_exactly(tmp_path):
    written = write_csv(tmp_path / "fer2013.csv")
    assert prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "out.h5") == 0
    with h5py.File(tmp_path / "out.h5") as f:
        assert list(f.attrs["classes"]) == list(CLASSES)
        assert f.attrs["format_version"] == 2 and f.attrs["channels"] == 1
        assert f.attrs["image_size"] == 48 and list(f.attrs["splits"]) == list(USAGES)
        assert f.attrs["source"] == "fer2013.csv"
        assert len(f.attrs["source_sha256"]) == 64
        for usage in USAGES:
            assert f[usage]["images"].dtype == np.uint8 and f[usage]["labels"].dtype == np.int64
    for usage, (images, labels) in written.items():
        got_images, got_labels = read_split(tmp_path / "out.h5", usage)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)


def test_gzipped_csv_gives_the_same_arrays(tmp_path):
    write_csv(tmp_path / "fer2013.csv")
    (tmp_path / "fer2013.csv.gz").write_bytes(
        gzip.compress((tmp_path / "fer2013.csv").read_bytes())
    )
    prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "a.h5")
    assert prepare(tmp_path / "fer2013.csv.gz", "-o", tmp_path / "b.h5") == 0
    for usage in USAGES:
        np.testing.assert_array_equal(
            read_split(tmp_path / "a.h5", usage)[0], read_split(tmp_path / "b.h5", usage)[0]
        )


def test_folder_maps_classes_by_name_and_usage_by_prefix(tmp_path):
    entries = folder_entries(per_class=2)
    write_folder(tmp_path / "fer", entries)
    assert prepare(tmp_path / "fer", "-o", tmp_path / "out.h5") == 0
    for i, usage in enumerate(USAGES):
        images, labels = read_split(tmp_path / "out.h5", usage)
        assert np.bincount(labels, minlength=7).tolist() == [2] * 7
        # Folder 'neutral' sorts before 'sad' but must still be label 6, 'sad' label 4.
        expected_images, expected_labels = make_faces(2, seed=10 + i)
        for label in (CLASSES.index("neutral"), CLASSES.index("sad")):
            got = images[labels == label]
            want = expected_images[expected_labels == label]
            assert sorted(x.tobytes() for x in got) == sorted(x.tobytes() for x in want)


def test_zip_equals_its_extracted_folder(tmp_path):
    entries = folder_entries(per_class=2, fmt="JPEG")
    write_zip(tmp_path / "fer.zip", entries)
    write_folder(tmp_path / "fer", entries)
    assert prepare(tmp_path / "fer.zip", "-o", tmp_path / "zip.h5") == 0
    assert prepare(tmp_path / "fer", "-o", tmp_path / "dir.h5") == 0
    for usage in USAGES:
        for a, b in zip(
            read_split(tmp_path / "zip.h5", usage), read_split(tmp_path / "dir.h5", usage)
        ):
            np.testing.assert_array_equal(a, b)


def test_unprefixed_test_folder_is_split_stratified_and_deterministic(tmp_path):
    entries = {k: v for k, v in folder_entries(per_class=5, prefixed=False).items()}
    write_folder(tmp_path / "fer", entries)
    prepare(tmp_path / "fer", "-o", tmp_path / "a.h5")
    prepare(tmp_path / "fer", "-o", tmp_path / "b.h5")
    train = read_split(tmp_path / "a.h5", "Training")[1]
    public = read_split(tmp_path / "a.h5", "PublicTest")[1]
    private = read_split(tmp_path / "a.h5", "PrivateTest")[1]
    assert np.bincount(train, minlength=7).tolist() == [5] * 7
    # test/ holds 10 per class (the fixture's Public+Private): halves of 5 and 5 per class.
    assert np.bincount(public, minlength=7).tolist() == [5] * 7
    assert np.bincount(private, minlength=7).tolist() == [5] * 7
    for usage in ("PublicTest", "PrivateTest"):
        np.testing.assert_array_equal(
            read_split(tmp_path / "a.h5", usage)[0], read_split(tmp_path / "b.h5", usage)[0]
        )
    public_set = {x.tobytes() for x in read_split(tmp_path / "a.h5", "PublicTest")[0]}
    assert not public_set & {x.tobytes() for x in read_split(tmp_path / "a.h5", "PrivateTest")[0]}


def test_existing_output_needs_force(tmp_path, capsys):
    write_csv(tmp_path / "fer2013.csv")
    (tmp_path / "out.h5").write_text("precious")
    assert prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "out.h5") == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "out.h5").read_text() == "precious"
    assert prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "out.h5", "--force") == 0
    assert len(read_split(tmp_path / "out.h5", "Training")[1]) == 28


def test_failed_conversion_leaves_no_file(tmp_path):
    write_csv(tmp_path / "fer2013.csv")
    with (tmp_path / "fer2013.csv").open("a") as f:
        f.write("3,1 2 3,Training\n")  # a bad last row: everything before it was read
    assert prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "out" / "x.h5") == 1
    assert not (tmp_path / "out" / "x.h5").exists()
    assert list((tmp_path / "out").glob("*")) == []  # no temporary file left behind either


def _csv_with(tmp_path, row: str):
    write_csv(tmp_path / "fer2013.csv", per_class=1)
    lines = (tmp_path / "fer2013.csv").read_text().splitlines()
    lines.insert(3, row)  # becomes line 4 of the file
    (tmp_path / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "fer2013.csv"


PIXELS = " ".join(["7"] * 2304)
BAD_ROWS = {
    "wrong pixel count": (f'3,"{" ".join(["7"] * 2000)}",Training', "2000 pixel values"),
    "non-numeric": (f'3,"{PIXELS[:-1]}x",Training', "not all integers"),
    "label out of range": (f'7,"{PIXELS}",Training', "label '7'"),
    "unknown usage": (f'3,"{PIXELS}",Validation', "unknown Usage 'Validation'"),
    "pixel out of range": (f'3,"{PIXELS[:-1]}999",Training', "outside 0-255"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_malformed_csv_row_names_file_and_line(tmp_path, capsys, case):
    row, message = BAD_ROWS[case]
    source = _csv_with(tmp_path, row)
    assert prepare(source, "-o", tmp_path / "out.h5") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{source}:4:" in err and message in err
    assert not (tmp_path / "out.h5").exists()


def test_skip_invalid_converts_the_rest_and_reports(tmp_path, capsys):
    source = _csv_with(tmp_path, BAD_ROWS["unknown usage"][0])
    assert prepare(source, "-o", tmp_path / "out.h5", "--skip-invalid") == 0
    assert "skipped 1 invalid" in capsys.readouterr().err
    assert sum(len(read_split(tmp_path / "out.h5", u)[1]) for u in USAGES) == 21


def test_bad_csv_header(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("emotion,pixels\n3,1 2 3\n")
    assert prepare(tmp_path / "x.csv", "-o", tmp_path / "out.h5") == 1
    assert "header" in capsys.readouterr().err


def bad_image_cases():
    good = folder_entries(per_class=1)
    face = make_faces(1)[0][0]
    return {
        "unreadable image": ({"train/happy/Training_9.jpg": b"not a jpeg"}, "unreadable image"),
        "not 48x48": (
            {"train/happy/Training_9.png": image_bytes(np.zeros((64, 50), np.uint8), "PNG")},
            "image is 50x64, expected 48x48",
        ),
        "unknown class folder": (
            {"train/contempt/Training_9.png": image_bytes(face, "PNG")},
            "unknown class folder 'contempt'",
        ),
    }, good


@pytest.mark.parametrize("case", ["unreadable image", "not 48x48", "unknown class folder"])
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_bad_image_names_the_file(tmp_path, capsys, case, form):
    cases, good = bad_image_cases()
    bad, message = cases[case]
    entries = good | bad
    if form == "zip":
        source = write_zip(tmp_path / "fer.zip", entries)
    else:
        source = write_folder(tmp_path / "fer", entries)
    if form == "folder" and case == "unknown class folder":
        # Not FER2013's classes: a folder is read as any labelled set, contempt kept as a class.
        assert prepare(source, "-o", tmp_path / "out.h5") == 0
        assert dataset_meta(tmp_path / "out.h5").classes[-1] == "contempt"
        return
    assert prepare(source, "-o", tmp_path / "out.h5") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and next(iter(bad)).split("/")[-1] in err and message in err
    assert prepare(source, "-o", tmp_path / "out.h5", "--skip-invalid") == 0


def test_missing_path_and_not_a_zip(tmp_path, capsys):
    assert prepare(tmp_path / "nope.zip", "-o", tmp_path / "out.h5") == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 truncated garbage")
    assert prepare(tmp_path / "fake.zip", "-o", tmp_path / "out.h5") == 1
    assert "not a valid zip" in capsys.readouterr().err
    (tmp_path / "photo.png").write_bytes(b"\x89PNG....")
    assert prepare(tmp_path / "photo.png", "-o", tmp_path / "out.h5") == 1
    assert "not a zip, a folder or a CSV" in capsys.readouterr().err


def test_cli_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fer.cli.prepare",
            str(tmp_path / "missing"),
            "-o",
            str(tmp_path / "o.h5"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"fer-prepare: error: {tmp_path / 'missing'}: no such file or directory"
    )


def test_info_prints_counts(tmp_path, capsys):
    write_csv(tmp_path / "fer2013.csv", per_class=2)
    prepare(tmp_path / "fer2013.csv", "-o", tmp_path / "out.h5")
    capsys.readouterr()
    assert main(["--info", str(tmp_path / "out.h5")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["Training", *["2"] * 7, "14"]
    assert main(["--info", str(tmp_path / "missing.h5")]) == 1
