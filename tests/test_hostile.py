"""Hostile and broken input, each in a subprocess under a memory and a time limit: a result or
a one-line refusal, never a traceback or a killed process."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
from PIL import Image

from fer.inference.images import MAX_SIDE, downscaled, read_image

from conftest import REPO, SHARED

MEMORY = 4 * 1024**3  # RLIMIT_DATA: RLIMIT_AS trips over torch's CUDA library mappings


def limited(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`argv` run under MEMORY of data and `timeout` seconds."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (MEMORY, MEMORY))

    return subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, preexec_fn=limit
    )


def test_a_flat_12000_pixel_png_is_searched_downscaled_within_the_memory_limit(tmp_path):
    photo = tmp_path / "flat.png"
    Image.fromarray(np.full((12000, 12000), 128, np.uint8)).save(photo)
    assert photo.stat().st_size < 1_000_000  # small on disk, 144M pixels
    out = tmp_path / "faces.csv"
    done = limited(sys.executable, "-m", "fer.cli.predict", str(photo), "--out", str(out))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"over {MAX_SIDE} px" in done.stderr and out.is_file()


def test_an_image_over_the_pixel_cap_is_refused_in_one_line(tmp_path):
    photo = tmp_path / "huge.png"
    Image.new("L", (13000, 12000)).save(photo)
    done = limited(sys.executable, "-m", "fer.cli.predict", str(photo))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "over 150M pixels" in done.stderr


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    pixels = np.asarray(read_image(tmp_path / "g16.png"))[..., 0]
    assert pixels.min() == 0 and pixels.max() >= 250
    assert 100 < np.median(pixels) < 155  # clipping at 255 would make most of it white
    assert downscaled(read_image(tmp_path / "g16.png")) is None


def test_numbers_that_are_not_finite_or_out_of_range_are_refused_in_one_line(tmp_path):
    clip = str(tmp_path / "clip.mp4")  # never opened: the arguments are refused first
    for argv, said in [
        (["fer.cli.video", clip, "--fps", "inf"], "must be a finite number, not 'inf'"),
        (["fer.cli.video", clip, "--fps", "nan"], "must be a finite number, not 'nan'"),
        (["fer.cli.video", clip, "--margin", "nan"], "must be a finite number, not 'nan'"),
        (["fer.cli.video", "--camera", "0", "--seconds", "0"], "--seconds must be positive"),
        (["fer.cli.video", "--camera", "0", "--seconds", "-1"], "--seconds must be positive"),
        (["fer.cli.video", clip, "--smoothing=-inf"], "must be a finite number"),
        (["fer.cli.predict", clip, "--margin", "inf"], "must be a finite number, not 'inf'"),
        (["fer.cli.app", "--max-upload-mb", "nan"], "must be a finite number, not 'nan'"),
    ]:
        done = limited(sys.executable, "-m", *argv, timeout=60)
        assert done.returncode == 2, (argv, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr, (argv, done.stderr)


def test_a_model_file_whose_metadata_asks_for_a_huge_face_is_refused_in_one_line(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from fer.modelinfo import DEFAULT_MODEL

    with safe_open(str(DEFAULT_MODEL), framework="pt") as f:
        info = json.loads(f.metadata()["fer"])
    hostile = tmp_path / "hostile.safetensors"
    save_file(
        load_file(str(DEFAULT_MODEL)),
        str(hostile),
        metadata={"fer": json.dumps(info | {"input_size": 100000})},
    )
    photo = tmp_path / "face.png"
    Image.new("L", (96, 96), 128).save(photo)
    done = limited(sys.executable, "-m", "fer.cli.predict", str(photo), "--model", str(hostile))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "input_size 100000: 8 to 1024 expected" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_gzipped_csv_of_one_half_gigabyte_line_is_refused_without_reading_it_whole(tmp_path):
    import gzip

    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wt", compresslevel=1) as f:
        f.write("emotion,pixels,Usage\n0,")
        for _ in range(512):
            f.write("1 " * (1 << 19))  # 512 MB of pixel values on one line
    assert bomb.stat().st_size < 5_000_000
    done = limited(sys.executable, "-m", "fer.cli.prepare", str(bomb), "-o", str(tmp_path / "x.h5"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "bomb.csv.gz:2: a line over 65,536 characters" in done.stderr
    assert not (tmp_path / "x.h5").exists()


def test_a_quoted_field_over_the_csv_limit_is_refused_in_one_line(tmp_path):
    table = tmp_path / "quoted.csv"
    table.write_text('emotion,pixels,Usage\n0,"' + "1\n" * 100_000 + '",Training\n')
    done = limited(
        sys.executable, "-m", "fer.cli.prepare", str(table), "-o", str(tmp_path / "x.h5")
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "not a FER2013 CSV (field larger than field limit" in done.stderr


def test_a_truncated_video_is_read_to_its_break_and_said_to_end_early(tmp_path):
    import json

    from fer.inference.frames import sample_frames

    whole = SHARED / "video" / "pexels_woman_sad_to_happy.mp4"  # 20 s
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:300_000])  # a broken download: about 3 s decode
    frames = list(sample_frames(cut, 1.0))
    assert 2 <= len(frames) <= 5 and frames[-1].time_s < 5  # no stale frames after the break
    assert all((a.rgb != b.rgb).any() for a, b in zip(frames, frames[1:]))
    assert len(list(sample_frames(whole, 1.0))) == 20  # the whole file: every second
    out = tmp_path / "out"
    done = limited(sys.executable, "-m", "fer.cli.video", str(cut), "--out", str(out), "--no-video")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "cut.mp4 decodes only to" in done.stderr and "truncated or damaged" in done.stderr
    early = json.loads((out / "cut" / "summary.json").read_text())["ends_early"]
    assert early["decoded_s"] < 5 and 19 < early["stated_s"] < 21
