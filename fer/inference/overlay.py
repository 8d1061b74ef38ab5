"""Drawing on frames with OpenCV: each face's box, id, label and probability bars, and a running
timeline strip of the last seconds per face (the desktop live view). Fast enough to run on every
frame (about a millisecond at 640x480)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]
GREEN = (0, 220, 0)  # BGR
# One colour per class (BGR), matplotlib's tab10 so the strip matches timeline.png.
PALETTE = [
    (180, 119, 31),
    (14, 127, 255),
    (44, 160, 44),
    (40, 39, 214),
    (189, 103, 148),
    (75, 86, 140),
    (194, 119, 227),
    (127, 127, 127),
    (34, 189, 188),
    (207, 190, 23),
]


def draw(
    rgb: np.ndarray,
    faces: Sequence[tuple[Box, int, np.ndarray]],
    classes: Sequence[str],
    bars: bool = False,
) -> np.ndarray:
    """A BGR copy of the frame with each face's box, `#id label p%` and a bar of its confidence;
    with `bars`, a small bar per class beside the box as well."""
    import cv2

    frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for box, face_id, p in faces:
        x1, y1, x2, y2 = (int(v) for v in box)
        k = int(p.argmax())
        cv2.rectangle(frame, (x1, y1), (x2, y2), GREEN, 2)
        cv2.putText(
            frame,
            f"#{face_id} {classes[k]} {p[k]:.0%}",
            (x1, max(y1 - 8, 12)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            GREEN,
            1,
            cv2.LINE_AA,
        )
        bar = int((x2 - x1) * float(p[k]))
        cv2.rectangle(frame, (x1, y2 + 4), (x2, y2 + 10), (60, 60, 60), -1)
        cv2.rectangle(frame, (x1, y2 + 4), (x1 + bar, y2 + 10), GREEN, -1)
        if bars:
            class_bars(frame, p, classes, (x2 + 6, y1))
    return frame


def class_bars(
    frame: np.ndarray, p: np.ndarray, classes: Sequence[str], at: tuple[int, int]
) -> None:
    """A bar per class (name, bar, percent) drawn in place on a BGR frame, its top-left at `at`
    (moved to stay inside the frame)."""
    import cv2

    width, row = 120, 14
    x = min(max(at[0], 0), max(frame.shape[1] - width - 60, 0))  # stays inside the frame
    y = min(max(at[1], 0), max(frame.shape[0] - row * len(classes), 0))
    for k, name in enumerate(classes):
        top = y + k * row
        cv2.rectangle(frame, (x, top), (x + width + 58, top + row - 2), (30, 30, 30), -1)
        cv2.putText(
            frame, name[:8], (x + 2, top + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (240, 240, 240), 1
        )
        length = int(70 * float(p[k]))
        cv2.rectangle(frame, (x + 52, top + 2), (x + 52 + length, top + row - 4), PALETTE[k], -1)
        cv2.putText(
            frame,
            f"{p[k]:.0%}",
            (x + 52 + 72, top + 10),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.33,
            (240, 240, 240),
            1,
        )


def timeline_strip(
    history: Sequence[tuple[float, int, np.ndarray]],
    classes: Sequence[str],
    width: int,
    now: float,
    seconds: float = 30.0,
    height: int = 90,
) -> np.ndarray:
    """A BGR strip per face of its probabilities over the last `seconds`, newest at the right;
    `history` holds (time, face id, probabilities). One line per class, in PALETTE's colours."""
    import cv2

    ids = sorted({face_id for _, face_id, _ in history})[-3:] or [None]
    strip = np.full((height * len(ids), width, 3), 24, np.uint8)
    for row, face_id in enumerate(ids):
        top = row * height
        cv2.putText(
            strip,
            "no face" if face_id is None else f"#{face_id}, last {seconds:.0f} s",
            (6, top + 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (200, 200, 200),
            1,
        )
        mine = [(t, p) for t, i, p in history if i == face_id and now - t <= seconds]
        if len(mine) < 2:
            continue
        xs = np.array([width - 1 - (now - t) / seconds * (width - 1) for t, _ in mine])
        for k in range(len(classes)):
            ys = np.array([top + height - 4 - p[k] * (height - 22) for _, p in mine])
            points = np.stack([xs, ys], 1).astype(np.int32)
            cv2.polylines(strip, [points], False, PALETTE[k % len(PALETTE)], 1, cv2.LINE_AA)
    return strip
