"""One frame pipeline for files, cameras and the browser: detect, crop, classify, track, smooth.

`FramePipeline.process` turns frames into `FrameRecord`s (each face's box, id, raw and smoothed
probabilities); `FramePipeline.run` does it over any iterable of frames in detection batches.
What happens to the records (frames.csv, summary, timeline, annotated video, a live overlay) is
up to the sinks in `fer.inference.records` and `fer.inference.overlay`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from fer.framing import Framing
from fer.inference.classifier import FaceClassifier
from fer.inference.faces import Face, FaceDetector, TrackingDetector
from fer.inference.frames import Frame
from fer.inference.tracking import Smoother, Tracker

BATCH = 16  # frames per detection batch when reading a file


@dataclass(frozen=True)
class FaceRecord:
    face_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    det_prob: float
    probs: np.ndarray  # this frame's probabilities (num_classes,)
    smoothed: np.ndarray  # averaged over the face's recent frames (Smoother)

    def label(self, classes: tuple[str, ...], smoothed: bool = False) -> str:
        return classes[int((self.smoothed if smoothed else self.probs).argmax())]


@dataclass(frozen=True)
class FrameRecord:
    index: int
    time_s: float
    faces: tuple[FaceRecord, ...]


class FramePipeline:
    """A predictor, a framing, a tracker and a smoother: the state of one video or session.

    `detector`: the face detector (default: the predictor's); live views pass one with a larger
    `min_face_size`, which is what makes them fast. `smoothing_s`: the smoother's window.
    `tta`: test-time augmentation of each face (default: the model's own choice)."""

    def __init__(
        self,
        predictor: FaceClassifier,
        framing: Framing | None = None,
        smoothing_s: float = 1.0,
        detector: FaceDetector | TrackingDetector | None = None,
        tta: str | None = None,
    ) -> None:
        self.predictor = predictor
        self.tta = tta
        self.classes = predictor.classes
        self.framing = framing or predictor.framing
        self.detector = detector or predictor.detector
        self.tracker = Tracker()
        self.smoother = Smoother(smoothing_s)

    def process(self, frames: list[Frame]) -> list[FrameRecord]:
        """Records for frames in time order (one detection batch when they share a size)."""
        images = [f.rgb for f in frames]
        detections = self.detector.detect(images)
        probs = self.predictor.classify_detections(images, detections, self.tta, self.framing)
        return [
            self._record(frame, faces, face_probs)
            for frame, faces, face_probs in zip(frames, detections, probs)
        ]

    def _record(self, frame: Frame, faces: list[Face], probs: list[np.ndarray]) -> FrameRecord:
        ids = self.tracker.assign([f.box for f in faces])
        return FrameRecord(
            frame.index,
            frame.time_s,
            tuple(
                FaceRecord(
                    face_id, face.box, face.prob, p, self.smoother.update(face_id, frame.time_s, p)
                )
                for face, face_id, p in zip(faces, ids, probs)
            ),
        )

    def run(
        self, frames: Iterable[Frame], batch: int = BATCH
    ) -> Iterator[tuple[Frame, FrameRecord]]:
        """Each frame with its record, detected `batch` frames at a time."""
        pending: list[Frame] = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch:
                yield from zip(pending, self.process(pending))
                pending = []
        if pending:
            yield from zip(pending, self.process(pending))
