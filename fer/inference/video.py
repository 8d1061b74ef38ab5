"""Emotion over time in a video: sample frames by timestamp, detect faces, track, classify, record.

Frames are read with OpenCV one sample at a time (seeking when samples are far apart), detected
and classified in batches, and written out as they go, so memory stays flat however long the
video. Per video it writes, into OUT/<video-name>/: frames.csv, summary.json, timeline.png and
(optionally) annotated.mp4.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer.framing import Framing
from fer.inference.predictor import Predictor
from fer.io import atomic_path, write_json

BATCH = 16  # sampled frames per detection batch
SEEK_GAP = 15  # seek (instead of decoding through) when samples are more frames apart than this
VIDEO_CODECS = {"mp4": "mp4v", "webm": "VP80"}  # annotated video: container -> OpenCV fourcc
IOU_MATCH = 0.3  # a face continues a track when its box overlaps the track's last box this much


class VideoError(Exception):
    """A video that cannot be analysed: missing, unreadable, no frames."""


@dataclass
class Sample:
    index: int  # frame number in the video
    time_s: float
    rgb: np.ndarray  # (H, W, 3) uint8


def open_video(path: Path) -> Any:
    import cv2

    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: cannot open (not a video, corrupt, or an unsupported codec)")
    return cap


def video_rate_and_length(cap: Any) -> tuple[float, int]:
    """Frames per second (30 when the container does not say) and frame count (0 if unknown)."""
    import cv2

    return cap.get(cv2.CAP_PROP_FPS) or 30.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)


def sample_frames(path: Path, fps: float, cap: Any = None) -> Iterator[Sample]:
    """Frames at `fps` per second of video time (every frame for fps=0), by timestamp."""
    import cv2

    cap = cap or open_video(path)
    try:
        rate, count = video_rate_and_length(cap)
        step = 1.0 if fps <= 0 else max(rate / fps, 1.0)  # frames between samples
        position, target, produced = 0, 0.0, 0
        while count <= 0 or round(target) < count:
            wanted = int(round(target))
            if wanted - position > SEEK_GAP:
                cap.set(cv2.CAP_PROP_POS_FRAMES, wanted)
                position = wanted
            while position < wanted and cap.grab():  # decode through short gaps
                position += 1
            ok, frame = cap.read()
            if not ok:
                break
            position += 1
            produced += 1
            yield Sample(wanted, wanted / rate, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            target += step
        if produced == 0:
            raise VideoError(
                f"{path}: no frames could be decoded (empty, corrupt or unsupported codec)"
            )
    finally:
        cap.release()


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Tracker:
    """Greedy box-overlap tracking: each face keeps the id of the track it overlaps most."""

    last: dict[int, tuple[float, ...]] = field(default_factory=dict)
    next_id: int = 0

    def assign(self, boxes: list[tuple[float, ...]]) -> list[int]:
        ids: list[int] = []
        free = dict(self.last)
        for box in boxes:
            best = max(free, key=lambda t: iou(free[t], box), default=None)
            if best is not None and iou(free[best], box) >= IOU_MATCH:
                ids.append(best)
                del free[best]
            else:
                ids.append(self.next_id)
                self.next_id += 1
        for face_id, box in zip(ids, boxes):
            self.last[face_id] = box
        return ids


def frames_header(classes: tuple[str, ...]) -> list[str]:
    return ["time_s", "frame", "face_id", "x1", "y1", "x2", "y2", "det_prob", *classes, "label"]


def analyze_video(
    predictor: Predictor,
    path: Path,
    out_dir: Path,
    fps: float = 1.0,
    video: bool = True,
    framing: Framing | None = None,
    progress: Callable[[float], None] | None = None,
    video_format: str = "mp4",
) -> dict[str, Any]:
    """Run the whole pipeline on one video and write its four outputs; returns the summary.

    `video_format`: mp4 (MPEG-4 part 2, plays in desktop players) or webm (VP8, plays in every
    browser). `framing`: how faces are cut (default: the model's own)."""
    import cv2

    start = time.perf_counter()
    framing = framing or predictor.framing
    classes = predictor.classes
    tracker = Tracker()
    rows: list[list[Any]] = []
    writer = None
    if video_format not in VIDEO_CODECS:
        raise ValueError(f"video_format must be one of {', '.join(VIDEO_CODECS)}")
    annotated = out_dir / f"annotated.{video_format}"
    partial = out_dir / f".annotated.part.{video_format}"
    cap = open_video(path)
    rate, count = video_rate_and_length(cap)
    duration = count / rate
    batch: list[Sample] = []

    def flush() -> None:
        nonlocal writer
        detections = predictor.detector.detect([s.rgb for s in batch])
        crops = [
            framing.crop(s.rgb, f.box, f.landmarks)
            for s, faces in zip(batch, detections)
            for f in faces
        ]
        probs = iter(predictor.predict_faces(crops))
        for sample, faces in zip(batch, detections):
            ids = tracker.assign([f.box for f in faces])
            frame_faces = []
            for face, face_id in zip(faces, ids):
                p = next(probs)
                frame_faces.append((face, face_id, p))
                rows.append(
                    [
                        round(sample.time_s, 3),
                        sample.index,
                        face_id,
                        *(round(v, 1) for v in face.box),
                        round(face.prob, 4),
                        *(float(v) for v in p),
                        classes[int(p.argmax())],
                    ]
                )
            if not faces:
                rows.append(
                    [
                        round(sample.time_s, 3),
                        sample.index,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        *[""] * len(classes),
                        "",
                    ]
                )
            if video:
                if writer is None:
                    h, w = sample.rgb.shape[:2]
                    writer = cv2.VideoWriter(
                        str(partial),
                        cv2.VideoWriter_fourcc(*VIDEO_CODECS[video_format]),
                        max(fps, 1.0) if fps > 0 else rate,
                        (w, h),
                    )
                writer.write(draw(sample.rgb, frame_faces, classes))
            if progress and duration:
                progress(min(sample.time_s / duration, 1.0))
        batch.clear()

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for sample in sample_frames(path, fps, cap):
            batch.append(sample)
            if len(batch) == BATCH:
                flush()
        if batch:
            flush()
    finally:
        if writer is not None:
            writer.release()
    if video and writer is not None:
        partial.replace(annotated)
    with atomic_path(out_dir / "frames.csv") as tmp, tmp.open("w", newline="") as f:
        csv.writer(f).writerows([frames_header(classes), *rows])
    summary = summarize(rows, classes, time.perf_counter() - start, fps, path)
    timeline_figure(rows, classes, out_dir / "timeline.png", path.name)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    write_json(out_dir / "summary.json", summary)
    return summary


def summarize(
    rows: list[list[Any]], classes: tuple[str, ...], seconds: float, fps: float, path: Path
) -> dict[str, Any]:
    """Per-video numbers: coverage, dominant emotion, mean probabilities, share of time."""
    frames = sorted({r[1] for r in rows})
    faces = [r for r in rows if r[2] != ""]
    with_face = sorted({r[1] for r in faces})
    probs = (
        np.array([r[8 : 8 + len(classes)] for r in faces], dtype=float)
        if faces
        else np.zeros((0, len(classes)))
    )
    mean = probs.mean(0) if len(probs) else np.full(len(classes), np.nan)
    labels = [r[-1] for r in faces]
    share = {c: labels.count(c) / len(labels) if labels else 0.0 for c in classes}
    return {
        "video": str(path),
        "fps_sampled": fps,
        "frames_sampled": len(frames),
        "frames_with_face": len(with_face),
        "face_coverage": len(with_face) / len(frames) if frames else 0.0,
        "faces": len({r[2] for r in faces}),
        "dominant_emotion": classes[int(np.nanargmax(mean))] if faces else None,
        "mean_probability": {c: None if np.isnan(v) else float(v) for c, v in zip(classes, mean)},
        "share_of_time": share,
        "processing_seconds": round(seconds, 3),
    }


def draw(
    rgb: np.ndarray, faces: list[tuple[Any, int, np.ndarray]], classes: tuple[str, ...]
) -> np.ndarray:
    """A BGR frame with each face's box, id, label and a bar of its confidence."""
    import cv2

    frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for face, face_id, p in faces:
        x1, y1, x2, y2 = (int(v) for v in face.box)
        k = int(p.argmax())
        cv2.rectangle(frame, (x1, y1), (x2, y2), (0, 220, 0), 2)
        cv2.putText(
            frame,
            f"#{face_id} {classes[k]} {p[k]:.0%}",
            (x1, max(y1 - 8, 12)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 220, 0),
            1,
            cv2.LINE_AA,
        )
        bar = int((x2 - x1) * float(p[k]))
        cv2.rectangle(frame, (x1, y2 + 4), (x2, y2 + 10), (60, 60, 60), -1)
        cv2.rectangle(frame, (x1, y2 + 4), (x1 + bar, y2 + 10), (0, 220, 0), -1)
    return frame


def timeline_figure(
    rows: list[list[Any]], classes: tuple[str, ...], path: Path, title: str
) -> Path:
    """The seven probabilities over time, one panel per tracked face."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save

    ids = sorted({r[2] for r in rows if r[2] != ""})
    fig, axes = plt.subplots(
        max(len(ids), 1), 1, figsize=(9, 2.6 * max(len(ids), 1)), squeeze=False, sharex=True
    )
    for ax, face_id in zip(axes[:, 0], ids):
        mine = [r for r in rows if r[2] == face_id]
        times = [r[0] for r in mine]
        for k, name in enumerate(classes):
            ax.plot(times, [r[8 + k] for r in mine], marker="o", ms=3, label=name)
        ax.set(ylabel="probability", ylim=(0, 1))
        ax.set_title(f"{title}: face #{face_id}", fontsize=10)
    if not ids:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center")
        axes[0, 0].set_title(title, fontsize=10)
    axes[-1, 0].set_xlabel("time (s)")
    if ids:
        axes[0, 0].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, path)
