"""fer-video on clips the tests make from a real face photo (scikit-image's astronaut)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from fer.cli.video import main, resolve_model
from fer.inference.frames import sample_frames
from fer.inference.tracking import Tracker

from conftest import make_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        "one": make_clip(root / "one.mp4"),
        "two": make_clip(root / "two.mp4", faces=2),
        "blank": make_clip(root / "blank.mp4", blank=True),
    }


def rows(out: Path, name: str) -> list[dict]:
    return list(csv.DictReader((out / name / "frames.csv").open()))


def test_sampling_by_timestamp(tmp_path):
    path = make_clip(tmp_path / "c.mp4", seconds=3.0, rate=10.0)
    assert [(s.index, s.time_s) for s in sample_frames(path, 1.0)] == [
        (0, 0.0),
        (10, 1.0),
        (20, 2.0),
    ]
    assert [s.index for s in sample_frames(path, 4.0)][:4] == [0, 2, 5, 8]  # 2.5 frames apart
    assert len(list(sample_frames(path, 0))) == 30


def test_one_face_gets_all_outputs(tiny_run, clips, tmp_path, capsys):
    assert (
        main(
            [
                str(clips["one"]),
                "--model",
                str(tiny_run),
                "--out",
                str(tmp_path),
                "--label",
                "happy",
            ]
        )
        == 0
    )
    out = tmp_path / "one"
    for name in ("frames.csv", "summary.json", "timeline.png", "annotated.mp4"):
        assert (out / name).stat().st_size > 0
    table = rows(tmp_path, "one")
    assert [r["time_s"] for r in table] == ["0.0", "1.0", "2.0"]
    assert {r["face_id"] for r in table} == {"0"}  # found in every frame, one stable id
    for r in table:
        assert sum(
            float(r[c]) for c in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
        ) == pytest.approx(1, abs=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["frames_sampled"] == 3
        and summary["frames_with_face"] == 3
        and summary["face_coverage"] == 1
    )
    assert sum(summary["share_of_time"].values()) == pytest.approx(1)
    assert cv2.VideoCapture(str(out / "annotated.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 3
    # --label happy: the clip is right when its dominant emotion is happy, a frame when its label is
    hits = sum(r["label"] == "happy" for r in table)
    clip_right = int(summary["dominant_emotion"] == "happy")
    assert (
        f"clip accuracy (dominant emotion): {clip_right}/1 = {clip_right:.0%}; "
        f"frame accuracy: {hits}/3 = {hits / 3:.0%}"
    ) in capsys.readouterr().out


def test_two_faces_keep_their_ids(tiny_run, clips, tmp_path):
    assert (
        main(
            [
                str(clips["two"]),
                "--model",
                str(tiny_run),
                "--out",
                str(tmp_path),
                "--no-video",
                "--fps",
                "2",
            ]
        )
        == 0
    )
    table = rows(tmp_path, "two")
    assert {r["face_id"] for r in table} == {"0", "1"}
    for face_id in ("0", "1"):
        centres = [(float(r["x1"]) + float(r["x2"])) / 2 for r in table if r["face_id"] == face_id]
        assert len(centres) == 6 and max(centres) - min(centres) < 40  # the same face each time
    assert not (tmp_path / "two" / "annotated.mp4").exists()


def test_bad_inputs_do_not_stop_the_good_video(tiny_run, clips, tmp_path, capsys):
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    code = main(
        [
            str(tmp_path / "corrupt.mp4"),
            str(tmp_path / "missing.mp4"),
            str(clips["blank"]),
            str(clips["one"]),
            "--model",
            str(tiny_run),
            "--out",
            str(tmp_path / "out"),
            "--no-video",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "corrupt.mp4: cannot open" in err or "corrupt.mp4: no frames" in err
    assert "missing.mp4: no such file" in err
    assert "warning: no face found in" in err and "blank.mp4" in err
    blank = rows(tmp_path / "out", "blank")
    assert len(blank) == 3 and all(r["face_id"] == "" for r in blank)  # gaps are visible
    assert (
        json.loads((tmp_path / "out" / "blank" / "summary.json").read_text())["dominant_emotion"]
        is None
    )
    assert len(rows(tmp_path / "out", "one")) == 3


def test_sweep_directory_means_its_best_run(tiny_run, tmp_path):
    for job in ("0", "1"):
        shutil.copytree(tiny_run, tmp_path / job)
    metrics = json.loads((tmp_path / "1" / "metrics.json").read_text())
    metrics["val"]["acc"] += 0.1
    (tmp_path / "1" / "metrics.json").write_text(json.dumps(metrics))
    assert resolve_model(str(tmp_path)) == str(tmp_path / "1")


def test_no_camera_is_a_clear_error(tiny_run, tmp_path, capsys):
    assert (
        main(["--camera", "7", "--seconds", "1", "--model", str(tiny_run), "--out", str(tmp_path)])
        == 1
    )
    assert capsys.readouterr().err.strip().startswith("fer-video: error: no camera 7")


def test_tracker_matches_by_overlap():
    tracker = Tracker()
    assert tracker.assign([(0, 0, 10, 10), (50, 50, 60, 60)]) == [0, 1]
    assert tracker.assign([(51, 51, 61, 61), (1, 1, 11, 11)]) == [1, 0]
    assert tracker.assign([(200, 200, 210, 210)]) == [2]


def test_label_accepts_the_models_own_classes(tmp_path, capsys):
    import argparse

    from fer.cli.video import main as video_main
    from fer.cli.video import read_labels

    videos = [tmp_path / "a.mp4"]
    eight = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
    args = argparse.Namespace(label="Contempt", labels=None)
    assert read_labels(args, videos, eight) == {str(videos[0]): "contempt"}
    with pytest.raises(ValueError, match="not one of the model's classes"):
        read_labels(args, videos)  # FER2013's seven
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("video,label\na.mp4,contempt\n")
    args = argparse.Namespace(label=None, labels=str(csv_path))
    assert read_labels(args, [Path("a.mp4")], eight) == {"a.mp4": "contempt"}
    # the shipped model knows seven: one line, before any video is read
    assert video_main([str(tmp_path / "missing.mp4"), "--label", "contempt"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "fer-video: error: --label contempt: not one of the model's classes "
        "(angry, disgust, fear, happy, sad, surprise, neutral)"
    ]


def test_bench_video_times_both_runtimes_and_the_whole_command(clips):
    """scripts/bench/bench_video.py: per-frame stages on each runtime, then fer-video itself."""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "scripts/bench/bench_video.py", str(clips["one"]), "--fps", "1"]
        + ["--end-to-end", "--repeats", "1"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for runtime in ("torch", "onnx"):
        stages = lines[lines.index(f"runtime {runtime}:") + 1]
        assert "3 frames" in stages and "3 faces" in stages  # the clip's face in each frame
        whole = next(line for line in lines if f"fer-video --runtime {runtime}" in line)
        assert float(whole.split()[-2]) > 0
