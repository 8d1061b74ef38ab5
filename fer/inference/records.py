"""What a video or a live session leaves behind: frames.csv, summary.json and timeline.png.

`Recording` collects the pipeline's `FrameRecord`s and writes the three files atomically; fer-video
writes them at the end of each video, the live views when the user saves the session.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer.inference.pipeline import FaceRecord, FrameRecord
from fer.io import atomic_path, save_figure, write_json

FILES = ("frames.csv", "summary.json", "timeline.png")


def frames_header(classes: tuple[str, ...]) -> list[str]:
    """frames.csv's columns: one row per face per frame (a frame without a face: one empty row);
    the frame's own probabilities and label, then the smoothed ones."""
    return [
        *("time_s", "frame", "face_id", "x1", "y1", "x2", "y2", "det_prob"),
        *classes,
        "label",
        *(f"{c}_smoothed" for c in classes),
        "label_smoothed",
    ]


def frame_rows(record: FrameRecord, classes: tuple[str, ...]) -> list[list[Any]]:
    start = [round(record.time_s, 3), record.index]
    if not record.faces:
        return [start + [""] * (len(frames_header(classes)) - 2)]
    return [
        start
        + [face.face_id, *(round(v, 1) for v in face.box), round(face.det_prob, 4)]
        + [*(float(v) for v in face.probs), face.label(classes)]
        + [*(float(v) for v in face.smoothed), face.label(classes, smoothed=True)]
        for face in record.faces
    ]


@dataclass
class Recording:
    """The records of one video or live session, in time order."""

    classes: tuple[str, ...]
    records: list[FrameRecord] = field(default_factory=list)

    def add(self, record: FrameRecord) -> None:
        self.records.append(record)

    def faces(self) -> list[tuple[float, FaceRecord]]:
        return [(r.time_s, f) for r in self.records for f in r.faces]

    def summary(self, seconds: float, fps: float, source: str) -> dict[str, Any]:
        """Coverage, dominant emotion, mean probabilities and share of time (per-frame labels)."""
        faces = [f for _, f in self.faces()]
        with_face = [r for r in self.records if r.faces]
        probs = np.array([f.probs for f in faces]) if faces else np.zeros((0, len(self.classes)))
        mean = probs.mean(0) if faces else np.full(len(self.classes), np.nan)
        labels = [f.label(self.classes) for f in faces]
        return {
            "video": source,
            "fps_sampled": fps,
            "frames_sampled": len(self.records),
            "frames_with_face": len(with_face),
            "face_coverage": len(with_face) / len(self.records) if self.records else 0.0,
            "faces": len({f.face_id for f in faces}),
            "dominant_emotion": self.classes[int(np.nanargmax(mean))] if faces else None,
            "mean_probability": {
                c: None if np.isnan(v) else float(v) for c, v in zip(self.classes, mean)
            },
            "share_of_time": {
                c: labels.count(c) / len(labels) if labels else 0.0 for c in self.classes
            },
            "processing_seconds": round(seconds, 3),
        }

    def write(
        self, out_dir: Path, seconds: float, fps: float, source: str, **notes: Any
    ) -> dict[str, Any]:
        """frames.csv, timeline.png and summary.json into `out_dir` (summary last: its presence
        says the other two are complete); returns the summary, `notes` added to it."""
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "frames.csv") as tmp, tmp.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(frames_header(self.classes))
            for record in self.records:
                writer.writerows(frame_rows(record, self.classes))
        timeline_figure(self, out_dir / "timeline.png", Path(source).name)
        summary = self.summary(seconds, fps, source)
        summary["seconds"] = round(seconds, 3)
        summary |= notes
        write_json(out_dir / "summary.json", summary)
        return summary


def timeline_figure(recording: Recording, path: Path, title: str) -> Path:
    """The probabilities over time, one panel per tracked face: smoothed as lines, each frame's
    own as dots of the same colour. Drawn without pyplot (a second of start-up less for a video
    that takes seconds)."""
    from matplotlib.figure import Figure

    faces = recording.faces()
    ids = sorted({f.face_id for _, f in faces})
    fig = Figure(figsize=(9, 2.6 * max(len(ids), 1)))
    axes = fig.subplots(max(len(ids), 1), 1, squeeze=False, sharex=True)
    for ax, face_id in zip(axes[:, 0], ids):
        mine = [(t, f) for t, f in faces if f.face_id == face_id]
        times = [t for t, _ in mine]
        for k, name in enumerate(recording.classes):
            (line,) = ax.plot(times, [f.smoothed[k] for _, f in mine], label=name)
            ax.plot(times, [f.probs[k] for _, f in mine], "o", ms=2.5, color=line.get_color())
        ax.set(ylabel="probability", ylim=(0, 1))
        ax.set_title(f"{title}: face #{face_id}", fontsize=10)
    if not ids:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center")
        axes[0, 0].set_title(title, fontsize=10)
    axes[-1, 0].set_xlabel("time (s)")
    if ids:
        axes[0, 0].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, path)
