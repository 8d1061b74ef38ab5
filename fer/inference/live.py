"""Live sessions: frames in as they come, each face's smoothed emotion out at once.

`LiveSession` is one person's session, in the browser (fer-app) or in a desktop window
(`fer-video --camera 0 --live`): the frame pipeline with a detector sized for webcams, the records
so far, and the overlay. `run_window` is the desktop loop over a `LiveSource` in an OpenCV window.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fer.framing import Framing
from fer.inference.classifier import FaceClassifier
from fer.inference.faces import FaceDetector, TrackingDetector
from fer.inference.frames import Frame, LiveSource
from fer.inference.overlay import draw, timeline_strip
from fer.inference.pipeline import FramePipeline, FrameRecord
from fer.inference.records import Recording

LIVE_MIN_FACE = 40  # px: a webcam face at 640x480 is larger; halves detection time against 20
TIMELINE_S = 30.0  # seconds of history the live timeline shows
WINDOW = "fer live (q: quit, s: save)"


class LiveSession:
    """The pipeline, the recording and the timeline history of one live session.

    Thread-safe: `step` and `save` may come from different server threads."""

    def __init__(
        self,
        predictor: FaceClassifier,
        smoothing_s: float = 1.0,
        min_face_size: int = LIVE_MIN_FACE,
        framing: Framing | None = None,
        detector: FaceDetector | TrackingDetector | None = None,
        tta: str | None = "none",
    ) -> None:
        # The predictor's networks, shared by every session: only the smallest face differs.
        detector = detector or TrackingDetector(predictor.detector.with_min_face(min_face_size))
        # Live views classify every frame they show: one view per face (tta none) by default,
        # where a file's frames, sampled once a second, get the model's own TTA.
        self.pipeline = FramePipeline(predictor, framing, smoothing_s, detector, tta)
        self.classes = predictor.classes
        self.recording = Recording(self.classes)
        self.history: deque[tuple[float, int, np.ndarray]] = deque()
        self.started = time.monotonic()
        self.processed = 0
        self.seconds = 0.0  # processing time, summed
        self._lock = threading.Lock()

    def step(self, frame: Frame) -> FrameRecord:
        """Detect, classify, track and smooth one frame; record it."""
        with self._lock:
            start = time.perf_counter()
            record = self.pipeline.process([frame])[0]
            self.recording.add(record)
            for face in record.faces:
                self.history.append((record.time_s, face.face_id, face.smoothed))
            while self.history and record.time_s - self.history[0][0] > TIMELINE_S:
                self.history.popleft()
            self.processed += 1
            self.seconds += time.perf_counter() - start
            return record

    def overlay(self, frame: Frame, record: FrameRecord) -> np.ndarray:
        """The frame (BGR) with smoothed labels and bars per face, the timeline strip below."""
        faces = [(f.box, f.face_id, f.smoothed) for f in record.faces]
        picture = draw(frame.rgb, faces, self.classes, bars=True)
        strip = timeline_strip(list(self.history), self.classes, picture.shape[1], record.time_s)
        return np.vstack([picture, strip])

    def save(self, out_dir: Path, source: str) -> dict[str, Any]:
        """frames.csv, summary.json and timeline.png of the session so far, as fer-video writes
        them for a clip; returns the summary."""
        with self._lock:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            fps = round(self.processed / elapsed, 2)
            return self.recording.write(out_dir, self.seconds, fps, source)


def gui_problem() -> str | None:
    """Why no OpenCV window can open here, or None when one can."""
    import cv2

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY is not set)"
    try:
        cv2.namedWindow(WINDOW)
        cv2.destroyWindow(WINDOW)
    except cv2.error:
        return "this OpenCV has no window support (opencv-python-headless)"
    return None


def run_window(
    session: LiveSession,
    source: LiveSource,
    out: Path,
    name: str,
    on_save: Callable[[Path], None] | None = None,
) -> int:
    """Show the live overlay in an OpenCV window until `q`, Esc or the source ends; `s` saves
    the session into OUT/<name>-<time>/. Returns the frames processed."""
    import cv2

    cv2.namedWindow(WINDOW)
    try:
        for frame in source:
            record = session.step(frame)
            cv2.imshow(WINDOW, session.overlay(frame, record))
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord("s"):
                target = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
                session.save(target, name)
                if on_save:
                    on_save(target)
    finally:
        cv2.destroyAllWindows()
    return session.processed
