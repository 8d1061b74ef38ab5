"""Where frames come from: a video file sampled by timestamp, or a live source (a webcam, a stream
URL, or a file played at its own rate as if it were a camera) that hands out its newest frame.

Every source yields `Frame`s (index, time in seconds, RGB pixels); the pipeline in
`fer.inference.pipeline` does not care which source it reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEEK_GAP = 15  # seek (instead of decoding through) when samples are more frames apart than this
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class VideoError(Exception):
    """A video or camera that cannot be analysed: missing, unreadable, no frames."""


@dataclass
class Frame:
    index: int  # frame number in the video or the source
    time_s: float  # video time for files, seconds since the start for cameras
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


def sample_frames(path: Path, fps: float, cap: Any = None) -> Iterator[Frame]:
    """Frames at `fps` per second of video time (every frame for fps=0), by timestamp."""
    import cv2

    cap = cap or open_video(path)
    try:
        rate, count = video_rate_and_length(cap)
        step = 1.0 if fps <= 0 else max(rate / fps, 1.0)  # frames between samples
        position, target, produced = 0, 0.0, 0
        while count <= 0 or round(target) < count:
            wanted = int(round(target))
            seeked = wanted - position > SEEK_GAP
            if seeked:
                cap.set(cv2.CAP_PROP_POS_FRAMES, wanted)
                position = wanted
            while position < wanted and cap.grab():  # decode through short gaps
                position += 1
            ok, frame = cap.read()
            # A seek past where a truncated file breaks off "succeeds" and hands back the
            # last decodable frame again: the decoder's position says so.
            if not ok or (seeked and cap.get(cv2.CAP_PROP_POS_FRAMES) < wanted - 1):
                break
            position += 1
            produced += 1
            yield Frame(wanted, wanted / rate, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            target += step
        if produced == 0:
            raise VideoError(
                f"{path}: no frames could be decoded (empty, corrupt or unsupported codec)"
            )
    finally:
        cap.release()


def camera_source(value: str) -> int | str:
    """`--camera`'s value: a webcam index ('0'), a stream URL, or a video file."""
    if value.isdigit():
        return int(value)
    if value.lower().startswith(STREAM_SCHEMES):
        return value
    if not Path(value).is_file():
        raise VideoError(f"{value}: no such camera index, stream URL or video file")
    return value


def open_camera(source: int | str) -> Any:
    """An opened cv2.VideoCapture on a webcam index, a stream URL or a file; VideoError if not."""
    import cv2

    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        what = f"no camera {source} found (is a webcam connected and free?)"
        if isinstance(source, str):
            what = f"{source}: cannot open (not a video, unreachable stream or unsupported codec)"
        raise VideoError(what)
    return cap


class LiveSource:
    """A live source's newest frame, never a backlog: a reader thread decodes frames as they come
    (files at their own frame rate, as a camera would deliver them) and keeps only the latest, so
    a consumer slower than the source skips frames instead of falling further behind."""

    def __init__(self, source: int | str) -> None:
        self.source = source
        self.cap = open_camera(source)
        self.is_file = isinstance(source, str) and Path(source).is_file()
        self.rate, _ = video_rate_and_length(self.cap)
        self._latest: Frame | None = None
        self._done = False
        self._error: str | None = None
        self._stop = threading.Event()
        self._ready = threading.Condition()
        self.delivered = 0  # frames handed out
        self.read = 0  # frames decoded
        self._thread = threading.Thread(target=self._read, name="fer-live-source", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import cv2

        start = time.monotonic()
        index = 0
        try:
            while not self._stop.is_set():
                ok, bgr = self.cap.read()
                if not ok:
                    break
                time_s = index / self.rate if self.is_file else time.monotonic() - start
                if self.is_file:  # play at the file's rate
                    delay = start + time_s - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                frame = Frame(index, time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                with self._ready:
                    self._latest = frame
                    self.read += 1
                    self._ready.notify_all()
                index += 1
            if index == 0:
                self._error = f"{self.source}: gives no frames"
        finally:
            with self._ready:
                self._done = True
                self._ready.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        """The newest frame each time the consumer is ready, until the source ends or `close`."""
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._latest is not None or self._done)
                frame, self._latest = self._latest, None
                if frame is None:  # done and nothing left
                    if self._error:
                        raise VideoError(self._error)
                    return
                self.delivered += 1
            yield frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.cap.release()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
