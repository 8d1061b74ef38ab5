"""Emotion over time in a video file: the frame pipeline from a timestamp sampler into two sinks.

Frames are read one sample at a time (`fer.inference.frames`), detected and classified in batches
(`fer.inference.pipeline`), drawn into the annotated video as they go and recorded
(`fer.inference.records`), so memory stays flat however long the video. Per video it writes,
into OUT/<video-name>/: frames.csv, summary.json, timeline.png and (optionally) annotated.mp4.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fer.framing import Framing
from fer.inference.classifier import FaceClassifier
from fer.inference.frames import VideoError, open_video, sample_frames, video_rate_and_length
from fer.inference.overlay import draw
from fer.inference.pipeline import FramePipeline, FrameRecord
from fer.inference.records import Recording

__all__ = ["VIDEO_CODECS", "AnnotatedVideo", "VideoError", "analyze_video"]
VIDEO_CODECS = {"mp4": "mp4v", "webm": "VP80"}  # annotated video: container -> OpenCV fourcc


class AnnotatedVideo:
    """The sampled frames with their faces drawn, written to a hidden partial file and renamed
    into place by `close`: an interrupted run never leaves a truncated video that looks whole."""

    def __init__(self, path: Path, fps: float) -> None:
        if path.suffix[1:] not in VIDEO_CODECS:
            raise ValueError(f"video_format must be one of {', '.join(VIDEO_CODECS)}")
        self.path, self.fps = path, fps
        self.partial = path.with_name(f".{path.stem}.part{path.suffix}")
        self.writer: Any = None

    def add(self, rgb: np.ndarray, record: FrameRecord, classes: tuple[str, ...]) -> None:
        import cv2

        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix[1:]])
            self.writer = cv2.VideoWriter(
                str(self.partial), fourcc, self.fps, (rgb.shape[1], rgb.shape[0])
            )
        faces = [(f.box, f.face_id, f.probs) for f in record.faces]
        self.writer.write(draw(rgb, faces, classes))

    def close(self, complete: bool) -> None:
        if self.writer is not None:
            self.writer.release()
            if complete:
                self.partial.replace(self.path)
            else:
                self.partial.unlink(missing_ok=True)


def analyze_video(
    predictor: FaceClassifier,
    path: Path,
    out_dir: Path,
    fps: float = 1.0,
    write_annotated: bool = True,
    framing: Framing | None = None,
    progress: Callable[[float], None] | None = None,
    video_format: str = "mp4",
    smoothing_s: float = 1.0,
    tta: str | None = None,
) -> dict[str, Any]:
    """Run the pipeline on one video and write its outputs; returns the summary.

    `video_format`: mp4 (MPEG-4 part 2, plays in desktop players) or webm (VP8, plays in every
    browser). `framing`: how faces are cut (default: the model's own). `smoothing_s`: the window
    of the smoothed columns of frames.csv and the timeline's lines. `tta`: test-time
    augmentation of each face (default: the model's own choice). `write_annotated`: also
    annotated.<video_format>, the video with boxes and labels drawn."""
    start = time.perf_counter()
    if video_format not in VIDEO_CODECS:
        raise ValueError(f"video_format must be one of {', '.join(VIDEO_CODECS)}")
    cap = open_video(path)
    rate, count = video_rate_and_length(cap)
    duration = count / rate
    pipeline = FramePipeline(predictor, framing, smoothing_s, tta=tta)
    recording = Recording(predictor.classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    annotated = (
        AnnotatedVideo(out_dir / f"annotated.{video_format}", max(fps, 1.0) if fps > 0 else rate)
        if write_annotated
        else None
    )
    complete, last_s = False, 0.0
    try:
        for frame, record in pipeline.run(sample_frames(path, fps, cap)):
            recording.add(record)
            last_s = frame.time_s
            if annotated:
                annotated.add(frame.rgb, record, predictor.classes)
            if progress and duration:
                progress(min(frame.time_s / duration, 1.0))
        complete = True
    finally:
        if annotated:
            annotated.close(complete)
    # A file cut short (a broken download) decodes up to its break: said, not hidden.
    notes = {}
    if duration and duration - last_s > (1.0 / fps if fps > 0 else 1.0 / rate) + 1.0:
        notes["ends_early"] = {"decoded_s": round(last_s, 2), "stated_s": round(duration, 2)}
    return recording.write(out_dir, time.perf_counter() - start, fps, str(path), **notes)
