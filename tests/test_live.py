"""Live mode without a browser: smoothing, the live source, tracking detection, the live session
on a real face video, the browser's frame routes, and fer-video --live without a display."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fer.app.live_view import live_router
from fer.inference.faces import FaceDetector, TrackingDetector
from fer.inference.frames import Frame, LiveSource, VideoError, camera_source, sample_frames
from fer.inference.live import LiveSession
from fer.inference.predictor import Predictor
from fer.inference.tracking import Smoother

from conftest import SHARED, make_clip

CLIP = SHARED / "video" / "single_face.mp4"  # a man goes from neutral to a broad smile
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason="no ../shared/video beside the repo")
NEUTRAL, HAPPY = np.eye(7)[6] * 0.8 + 0.2 / 7, np.eye(7)[3] * 0.8 + 0.2 / 7


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load()


def test_a_constant_face_keeps_a_stable_smoothed_label():
    rng = np.random.default_rng(0)
    smoother = Smoother(window_s=1.0)
    raw_labels, labels = set(), set()
    for k in range(100):  # 10 s at 10 frames/s; every third frame the raw label flips
        raw = HAPPY if k % 3 < 2 else NEUTRAL * 0.7 + HAPPY * 0.3 + rng.normal(0, 0.02, 7)
        raw_labels.add(int(raw.argmax()))
        labels.add(int(smoother.update(0, k / 10, raw).argmax()))
    assert raw_labels == {3, 6} and labels == {3}


@pytest.mark.parametrize("window_s, rate", [(1.0, 10), (1.0, 30), (0.5, 10)])
def test_a_change_of_expression_shows_within_the_window(window_s, rate):
    smoother = Smoother(window_s=window_s)
    for k in range(3 * rate):  # neutral for 3 s, then happy
        smoother.update(0, k / rate, NEUTRAL)
    switched = None
    for k in range(3 * rate):
        t = 3 + k / rate
        if smoother.update(0, t, HAPPY).argmax() == 3 and switched is None:
            switched = t - 3
    assert 0 < switched <= window_s  # not on the first frame, but within the window


def test_smoothing_zero_is_the_raw_probabilities_and_faces_are_separate():
    off = Smoother(window_s=0)
    off.update(0, 0.0, NEUTRAL)
    assert np.allclose(off.update(0, 0.1, HAPPY), HAPPY)
    on = Smoother(window_s=1.0)
    on.update(0, 0.0, NEUTRAL)
    assert np.allclose(on.update(1, 0.1, HAPPY), HAPPY)  # face 1 has no history


def test_live_source_hands_out_the_newest_frame_and_skips_the_rest(tmp_path):
    """A consumer slower than the source (by counting: it takes a frame only once 6 more have
    been decoded, whatever the machine's speed) gets the newest frame each time, no backlog."""
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, rate=30.0)
    with LiveSource(str(clip)) as source:
        handed = []
        for frame in source:
            handed.append(frame)
            deadline = time.monotonic() + 60  # a bound on the wait, not a measure
            while source.read < min(frame.index + 1 + 6, 90):  # 6 decoded after this one
                assert time.monotonic() < deadline, f"decoding stalled at {source.read}"
                time.sleep(0.01)
    assert source.read == 90 and source.delivered == len(handed)  # every frame decoded
    indices = [f.index for f in handed]
    # the newest each time, none queued (the clip's end comes sooner)
    assert all(b - a >= min(6, 89 - a) for a, b in zip(indices, indices[1:])), indices
    assert indices[-1] == 89  # and the consumer kept up with the end of the clip
    assert [f.time_s for f in handed] == pytest.approx([i / 30 for i in indices])  # file time


def test_camera_values(tmp_path):
    assert camera_source("0") == 0
    assert camera_source("rtsp://10.0.0.5/stream") == "rtsp://10.0.0.5/stream"
    clip = make_clip(tmp_path / "c.mp4", seconds=0.5)
    assert camera_source(str(clip)) == str(clip)
    with pytest.raises(VideoError, match="no such camera index, stream URL or video file"):
        camera_source(str(tmp_path / "missing.mp4"))


@needs_clip
def test_tracking_detection_finds_what_full_detection_finds():
    frames = [f.rgb for f in sample_frames(CLIP, 0)]
    full = FaceDetector(min_face_size=40)
    tracking = TrackingDetector(FaceDetector(min_face_size=40), full_every=10)
    found = tracking.detect(frames)
    for image, faces in zip(frames, found):
        truth = full.detect([image])[0]
        assert len(faces) == len(truth) == 1
        side = truth[0].box[2] - truth[0].box[0]
        assert np.abs(np.subtract(faces[0].box, truth[0].box)).max() < 0.15 * side
        assert np.abs(np.subtract(faces[0].landmarks, truth[0].landmarks)).max() < 0.1 * side


@needs_clip
def test_live_session_on_a_real_face_goes_from_neutral_to_happy(predictor, tmp_path):
    session = LiveSession(predictor, smoothing_s=0.5)
    records = [session.step(frame) for frame in sample_frames(CLIP, 0)]
    assert all(len(r.faces) == 1 for r in records)
    assert {r.faces[0].face_id for r in records} == {0}  # one track all along
    smoothed = [r.faces[0].label(predictor.classes, smoothed=True) for r in records]
    assert smoothed[0] == "neutral" and smoothed[-1] == "happy"
    switches = sum(a != b for a, b in zip(smoothed, smoothed[1:]))
    raw_switches = sum(
        a.faces[0].label(predictor.classes) != b.faces[0].label(predictor.classes)
        for a, b in zip(records, records[1:])
    )
    assert switches <= raw_switches  # smoothing never adds flicker
    overlay = session.overlay(Frame(0, 0.0, next(sample_frames(CLIP, 1)).rgb), records[-1])
    assert overlay.shape[1] == 640 and overlay.shape[0] > 360  # the picture and the timeline
    summary = session.save(tmp_path / "session", "live")
    assert summary["frames_sampled"] == len(records) and summary["dominant_emotion"]
    for name in ("frames.csv", "summary.json", "timeline.png"):
        assert (tmp_path / "session" / name).stat().st_size > 0


@needs_clip
def test_browser_frame_routes(predictor, tmp_path):
    server = FastAPI()
    server.include_router(live_router(predictor, tmp_path))
    client = TestClient(server)
    frame = next(sample_frames(CLIP, 1)).rgb
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    assert client.post("/live/save?session=s1").status_code == 409  # nothing yet
    answers = [
        client.post(f"/live/frame?session=s1&t={100 * k}", content=jpeg).json() for k in range(3)
    ]
    face = answers[-1]["faces"][0]
    assert answers[-1]["width"] == 640 and len(face["probs"]) == len(predictor.classes)
    assert face["label_smoothed"] == predictor.classes[int(np.argmax(face["smoothed"]))]
    assert [a["frame"] for a in answers] == [0, 1, 2]
    bad = client.post("/live/frame?session=s1", content=b"not a picture")
    assert bad.status_code == 400 and "not a JPEG" in bad.json()["detail"]
    assert client.post("/live/frame?session=../x", content=jpeg).status_code == 400
    saved = client.post("/live/save?session=s1").json()
    summary = json.loads(client.get(saved["files"]["summary.json"].replace("live/", "/live/")).text)
    assert summary["frames_sampled"] == 3 and summary["face_coverage"] == 1.0
    assert client.get("/live/files/elsewhere/summary.json").status_code == 404


def test_a_busy_model_drops_the_frame_instead_of_queueing_it(predictor, tmp_path):
    from fer.app.live_view import LiveSessions

    sessions = LiveSessions(predictor, tmp_path)
    jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()
    with sessions.busy:  # another session's frame is being processed
        assert sessions.frame("a", jpeg, 0.0, 1.0) == {"busy": True}
    assert sessions.frame("a", jpeg, 0.0, 1.0)["faces"] == []


def test_fer_video_live_without_a_display_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from fer.cli.video import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    clip = make_clip(tmp_path / "c.mp4", seconds=0.5)
    assert main(["--camera", str(clip), "--live", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--live needs a window" in err[0] and "fer-app" in err[0]


def test_a_file_as_camera_is_recorded_and_analysed(tmp_path, capsys):
    from fer.cli.video import main

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0)
    assert main(["--camera", str(clip), "--seconds", "1.5", "--out", str(tmp_path / "o")]) == 0
    (recorded,) = (tmp_path / "o").glob("camera-*.mp4")
    summary = json.loads((tmp_path / "o" / recorded.stem / "summary.json").read_text())
    assert summary["frames_sampled"] == 2 and summary["face_coverage"] == 1.0


def test_a_camera_that_stops_early_is_said_to_and_exits_non_zero(tmp_path, capsys):
    """A source that stops giving frames before --seconds (here a 2-s file asked for 5 s, as
    an unplugged camera or a dropped stream would) keeps and analyses what it gave, warns in
    one line and exits 1: the recording asked for was not made."""
    from fer.cli.video import main

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0)
    assert main(["--camera", str(clip), "--seconds", "5", "--out", str(tmp_path / "o")]) == 1
    (recorded,) = (tmp_path / "o").glob("camera-*.mp4")
    assert (tmp_path / "o" / recorded.stem / "summary.json").is_file()
    assert f"camera {clip} stopped giving frames after 2" in capsys.readouterr().err


def test_paths_of_a_saved_session_do_not_escape(tmp_path, predictor):
    from fastapi import HTTPException

    from fer.app.live_view import LiveSessions

    sessions = LiveSessions(predictor, tmp_path)
    (tmp_path.parent / "summary.json").write_text("{}")  # what ../summary.json would reach
    for folder, name in (("..", "summary.json"), (".", "../summary.json"), ("", "summary.json")):
        with pytest.raises(HTTPException) as refused:
            sessions.file(folder, name)
        assert refused.value.status_code == 404 and refused.value.detail == "no such saved file"
