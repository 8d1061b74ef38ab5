"""Hostile and broken input, each in a subprocess under a memory and a time limit: a result or
a one-line refusal, never a traceback or a killed process."""

from __future__ import annotations

import io
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer.inference.images import MAX_SIDE, downscaled, read_image

from conftest import REPO, SHARED, face_photo, folder_entries, write_csv, write_zip

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


def _shipped_model() -> tuple[dict, dict]:
    """The shipped model's tensors and `fer` metadata, to make damaged copies of."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from fer.modelinfo import DEFAULT_MODEL

    with safe_open(str(DEFAULT_MODEL), framework="pt") as f:
        return load_file(str(DEFAULT_MODEL)), json.loads(f.metadata()["fer"])


def _widened(config: dict) -> dict:
    """A model config with every CNN 128 times as wide (about 20 billion parameters)."""
    if config.get("name") == "ensemble":
        return {**config, "members": [_widened(m) for m in config["members"]]}
    return {**config, "width": config["width"] * 128, "max_width": config["max_width"] * 128}


def _damaged(kind: str, tmp_path) -> Path:
    from safetensors.torch import save_file

    tensors, info = _shipped_model()
    path = tmp_path / f"{kind}.safetensors"
    metadata = {"fer": json.dumps(info)}
    if kind == "shape":  # one conv with a filter less than its config builds
        name = [k for k, v in tensors.items() if v.ndim == 4][2]
        tensors = tensors | {name: tensors[name][:-1].clone()}
    elif kind == "missing":
        metadata = {"fer": json.dumps({k: v for k, v in info.items() if k != "classes"})}
    elif kind == "bare":
        metadata = {}
    elif kind == "newer":
        metadata = {"fer": json.dumps(info | {"format_version": 99})}
    elif kind == "huge":  # a tiny file whose metadata asks for a huge model
        tensors = {"w": torch.zeros(4)}
        metadata = {"fer": json.dumps(info | {"model": _widened(info["model"])})}
    elif kind == "classes":  # five names for a head of seven scores
        metadata = {"fer": json.dumps(info | {"classes": info["classes"][:5]})}
    elif kind == "onnx":
        path = tmp_path / "model.onnx"
        path.write_bytes(b"not an ONNX protobuf")
        return path
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("shape", "its tensors do not match its model config (1 of another shape"),
        ("missing", "fer metadata lacks classes"),
        ("bare", "no 'fer' metadata"),
        ("newer", "format_version 99: this fer reads up to 1"),
        ("huge", "its tensors do not match its model config (0 of another shape"),
        ("onnx", "not a readable ONNX model"),
        ("classes", "its head gives 7 scores for 5 class names"),
    ],
)
def test_a_damaged_model_file_is_refused_in_one_line_before_anything_is_built(
    kind, message, tmp_path
):
    model = _damaged(kind, tmp_path)
    photo = tmp_path / "face.png"
    Image.new("L", (96, 96), 128).save(photo)
    done = limited(sys.executable, "-m", "fer.cli.predict", str(photo), "--model", str(model))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"fer-predict: error: {model}: ") and message in line, line


def test_fer_export_writes_no_model_whose_class_names_and_head_disagree(tmp_path):
    model, out = _damaged("classes", tmp_path), tmp_path / "out.onnx"
    done = limited(sys.executable, "-m", "fer.cli.export", "--model", str(model), "-o", str(out))
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "its head gives 7 scores for 5 class names" in line, line
    assert not out.exists()


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


def small_disk_refusal() -> str | None:
    """Why a small tmpfs cannot be mounted here (a user and mount namespace, no root needed),
    or None when it can."""
    if shutil.which("unshare") is None:
        return "no unshare(1) on this machine"
    trial = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    return None if trial.returncode == 0 else f"no tmpfs in a namespace: {trial.stderr.strip()}"


def test_a_disk_that_fills_during_training_leaves_a_whole_last_checkpoint_to_resume(
    tiny_h5, tmp_path
):
    """The disk holds two checkpoints but not a third: the second epoch's save fails. The run
    ends in one line, not a segfault or a traceback; last.ckpt is the first epoch's, whole,
    with no temporary file left, and the run resumes from it once there is room."""
    refusal = small_disk_refusal()
    if refusal:
        pytest.skip(refusal)
    disk, copy = tmp_path / "disk", tmp_path / "copy"
    disk.mkdir()
    train = [
        sys.executable,
        "train.py",
        f"data.path={tiny_h5}",
        "model.width=8",  # checkpoints of 0.9 MiB: two fit on the disk, a third does not
        "data.batch_size=16",
        "data.num_workers=0",
        "logger=csv",
        "figures=false",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.max_epochs=3",
    ]
    script = (
        f'mount -t tmpfs -o size=2400k tmpfs "{disk}" || exit 99\n'
        f'{shlex.join(train)} hydra.run.dir="{disk}/run"; rc=$?\n'
        f'cp -a "{disk}/run" "{copy}"; exit $rc\n'
    )
    full = subprocess.run(
        ["unshare", "-rm", "bash", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert full.returncode == 1, full.stderr[-3000:]
    last_line = full.stderr.strip().splitlines()[-1]
    assert last_line.startswith("train.py: error: OSError:") and "No space left" in last_line
    checkpoint = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0
    assert not list((copy / "checkpoints").glob(".*.tmp"))
    record = json.loads((copy / "metrics.json").read_text())
    assert record["status"] == "failed" and record["resumable"]
    assert "Traceback" in (copy / "error.log").read_text()

    resumed = subprocess.run(
        [*train, f"resume={copy}", f"hydra.run.dir={tmp_path / 'elsewhere'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((copy / "metrics.json").read_text())
    assert record["status"] == "completed" and record["epochs"] == 3


def test_fer_prepare_on_a_full_disk_fails_in_one_line_and_leaves_nothing(tmp_path):
    """HDF5 written straight to a full disk crashed the process (rc 139); now the file is
    built in memory and its write fails as an OSError, with no temporary file left."""
    refusal = small_disk_refusal()
    if refusal:
        pytest.skip(refusal)
    write_csv(tmp_path / "fer2013.csv", per_class=16)  # 336 faces: 0.8 MB
    disk = tmp_path / "disk"
    disk.mkdir()
    prepare = [sys.executable, "-m", "fer.cli.prepare", str(tmp_path / "fer2013.csv")]
    script = (
        f'mount -t tmpfs -o size=256k tmpfs "{disk}" || exit 99\n'
        f'{shlex.join(prepare)} -o "{disk}/fer2013.h5"; rc=$?\n'
        f'ls -A "{disk}"; exit $rc\n'
    )
    full = subprocess.run(
        ["unshare", "-rm", "bash", "-c", script], cwd=REPO, capture_output=True, text=True
    )
    assert full.returncode == 1, full.stderr[-2000:]
    assert full.stderr.strip().splitlines()[-1] == (
        f"fer-prepare: error: {disk}/fer2013.h5: No space left on device"
    )
    assert full.stdout.strip() == ""  # nothing left on the disk


def test_fer_prepare_refuses_a_folder_or_a_broken_h5_in_one_line(tmp_path):
    write_csv(tmp_path / "fer2013.csv")
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature, nothing after
    for args, message in (
        ([str(tmp_path / "fer2013.csv"), "-o", str(tmp_path), "--force"], "is a folder"),
        (["--info", str(broken)], "not an HDF5 file"),
    ):
        done = limited(sys.executable, "-m", "fer.cli.prepare", *args)
        (line,) = done.stderr.strip().splitlines()
        assert done.returncode == 1 and line.startswith("fer-prepare: error:"), done.stderr
        assert message in line, line


def _fer_zip(path: Path, hostile: dict[str, bytes] | None = None, huge: str | None = None) -> Path:
    """A Kaggle-layout zip of real-looking faces, plus `hostile` members and, with `huge`, a
    member of 2 GiB of zeros (the zip stays about 2 MB)."""
    write_zip(path, folder_entries() | (hostile or {}))
    if huge:
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
            with z.open(huge, "w", force_zip64=True) as member:
                block = bytes(64 * 1024**2)
                for _ in range(32):
                    member.write(block)
    return path


def test_a_zip_member_that_inflates_to_2_gib_is_refused_unread(tmp_path):
    zipped = _fer_zip(tmp_path / "fer2013.zip", huge="train/angry/huge.png")
    assert zipped.stat().st_size < 4 * 1024**2
    out = tmp_path / "out.h5"
    done = limited(sys.executable, "-m", "fer.cli.prepare", str(zipped), "-o", str(out))
    (line,) = [x for x in done.stderr.strip().splitlines() if not x.startswith("reading")]
    assert done.returncode == 1 and "huge.png: 2,147,483,648 bytes inflated, over" in line, line
    assert not out.exists()
    skipped = limited(
        sys.executable, "-m", "fer.cli.prepare", str(zipped), "-o", str(out), "--skip-invalid"
    )
    assert skipped.returncode == 0 and out.is_file(), skipped.stderr[-2000:]


def test_a_decompression_bomb_png_in_a_zip_is_skipped_not_decoded(tmp_path):
    bomb = io.BytesIO()
    Image.new("L", (12000, 12000), 0).save(bomb, "PNG")  # 12000² pixels in about 200 KB
    zipped = _fer_zip(tmp_path / "fer2013.zip", {"train/angry/bomb.png": bomb.getvalue()})
    out = tmp_path / "out.h5"
    args = [sys.executable, "-m", "fer.cli.prepare", str(zipped), "-o", str(out)]
    done = limited(*args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "bomb.png: image is 12000x12000, expected 48x48" in done.stderr
    skipped = limited(*args, "--skip-invalid")
    assert skipped.returncode == 0 and out.is_file(), skipped.stderr[-2000:]
    assert "bomb.png" in skipped.stdout + skipped.stderr  # said to be skipped


def test_an_encrypted_zip_member_is_refused_in_one_line(tmp_path):
    zipped = _fer_zip(tmp_path / "fer2013.zip")
    with zipfile.ZipFile(zipped, "a") as z:
        info = zipfile.ZipInfo("train/angry/locked.png")
        info.flag_bits |= 0x1  # "encrypted": zipfile then asks for a password
        z.writestr(info, b"\0" * 100)
    done = limited(
        sys.executable, "-m", "fer.cli.prepare", str(zipped), "-o", str(tmp_path / "o.h5")
    )
    lines = [x for x in done.stderr.strip().splitlines() if not x.startswith("reading")]
    assert done.returncode == 1 and len(lines) == 1 and "locked.png" in lines[0], done.stderr
    assert "encrypted" in lines[0]


def _serve_app(tmp: Path) -> tuple[subprocess.Popen, int]:
    """fer-app on onnxruntime on a free local port, its temporary folders under `tmp`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "fer.cli.app", "--runtime", "onnx", "--port", str(port)],
        cwd=REPO,
        env=os.environ | {"TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        assert process.poll() is None, process.stdout.read()[-2000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return process, port
        except OSError:
            time.sleep(0.5)
    process.kill()
    pytest.fail("fer-app did not answer within 180 s")


def _post(port: int, path: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_app_refuses_other_sites_and_huge_frames_and_leaves_nothing_behind(tmp_path):
    """A POST from another site's page is refused; a frame announced as 400 MB is refused
    before its body is sent; uploads and results are gone once the server stops."""
    process, port = _serve_app(tmp_path)
    try:
        photo = io.BytesIO()
        Image.open(REPO / "docs" / "images" / "app_live.png").convert("RGB").save(photo, "JPEG")
        jpeg = photo.getvalue()
        foreign = _post(port, "/live/frame?session=s1", jpeg, Origin="http://evil.example")
        assert foreign[0] == 403 and b"another site" in foreign[1]
        rebound = _post(port, "/live/frame?session=s1", jpeg, Host="evil.example")
        assert rebound[0] == 403
        assert _post(port, "/live/frame?session=s1", jpeg)[0] == 200
        same = _post(port, "/live/frame?session=s1", jpeg, Origin=f"http://127.0.0.1:{port}")
        assert same[0] == 200
        assert _post(port, "/live/save?session=s1", b"")[0] == 200

        boundary = "fer"
        upload = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + jpeg
            + f"\r\n--{boundary}--\r\n".encode()
        )
        kind = f"multipart/form-data; boundary={boundary}"
        refused = _post(port, "/gradio_api/upload", upload, Origin="http://evil.example")
        assert refused[0] == 403
        status, paths = _post(port, "/gradio_api/upload", upload, **{"Content-Type": kind})
        assert status == 200 and Path(json.loads(paths)[0]).is_file()

        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                f"POST /live/frame?session=s1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: image/jpeg\r\nContent-Length: {400 * 1024**2}\r\n\r\n".encode()
            )
            answer = s.recv(4096)  # at once, though not one byte of the body was sent
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert list(tmp_path.glob("fer-app-*/*"))  # results and uploads while it runs
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert not list(tmp_path.glob("fer-app-*")), list(tmp_path.rglob("*"))[:10]


def test_a_mutation_check_killed_halfway_leaves_the_source_as_it_was():
    """The mutation is applied to a copy of the tree: killing the check while its tests run
    (seen before: fer/checkpoint.py left with weights_only=False) changes nothing here."""
    source = REPO / "fer" / "checkpoint.py"
    before = source.read_bytes()
    check = subprocess.Popen(
        [sys.executable, "scripts/dev/mutation_check.py", "safe-loading"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while b"safe-loading" not in check.stdout.readline() and time.time() < deadline:
        pass
    time.sleep(3)  # the copy is made and its tests are running
    os.killpg(check.pid, signal.SIGKILL)
    check.wait(timeout=30)
    assert source.read_bytes() == before


def test_ctrl_c_in_fer_predict_keeps_the_rows_done_so_far(tmp_path):
    photo = face_photo()
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(64):
        shutil.copy(photo, photos / f"{i:02d}{photo.suffix}")
    out = tmp_path / "rows.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "fer.cli.predict", str(photos), "--out", str(out), "--tta", "none"],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    seen = b""
    while b"16/64" not in seen and process.poll() is None:  # the first batch is done
        seen += os.read(process.stderr.fileno(), 4096)
    process.send_signal(signal.SIGINT)
    stderr = (seen + process.communicate(timeout=120)[1]).decode()
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted after" in stderr and "Traceback" not in stderr
    rows = out.read_text().strip().splitlines()[1:]
    assert 16 <= len(rows) < 64
    assert all(row.split(",")[0].startswith(str(photos)) for row in rows)


@pytest.mark.parametrize(
    ("tool", "out", "message"),
    [
        ("predict", "file/rows.csv", "file: is not a folder"),
        ("predict", "folder", "folder: is a folder; a file is wanted"),
        ("video", "file", "file: is a file; a folder is wanted"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tool, out, message, tmp_path):
    (tmp_path / "file").write_text("an earlier record")
    (tmp_path / "folder").mkdir()
    photo = tmp_path / "face.png"
    Image.new("L", (96, 96), 128).save(photo)
    done = limited(
        sys.executable, "-m", f"fer.cli.{tool}", str(photo), "--out", str(tmp_path / out)
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1 and line == f"fer-{tool}: error: {tmp_path}/{message}", line
    assert (tmp_path / "file").read_text() == "an earlier record"


class _Payload:
    """Unpickling this creates the marker file: code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_resume_from_a_pickled_payload_runs_nothing_even_when_torch_is_told_to(
    tiny_run, tmp_path
):
    """`TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1` turns torch's default loads into unpickling; fer
    states weights_only to Lightning, so the payload in last.ckpt never runs, and the run's
    completed record is kept."""
    marker = tmp_path / "EXECUTED"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, tiny_run / "checkpoints" / "last.ckpt")
    record = (tiny_run / "metrics.json").read_bytes()
    done = subprocess.run(
        [sys.executable, "train.py", f"resume={tiny_run}", f"hydra.run.dir={tmp_path / 'new'}"],
        cwd=REPO,
        env=os.environ | {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (MEMORY, MEMORY)),
    )
    assert done.returncode == 1 and not marker.exists(), done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("train.py: error:")
    assert (tiny_run / "metrics.json").read_bytes() == record


def test_a_run_whose_hydra_files_carry_a_python_tag_is_skipped_by_fer_compare(tiny_run, tmp_path):
    marker = tmp_path / "EXECUTED"
    (tiny_run / ".hydra" / "overrides.yaml").write_text(
        f"- !!python/object/apply:os.system ['touch {marker}']\n"
    )
    done = limited(sys.executable, "-m", "fer.cli.compare", str(tiny_run.parent))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "unreadable" in done.stdout and not marker.exists()
