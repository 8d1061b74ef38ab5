"""A contact sheet of a fer-video result: sampled frames with their face box, the face as the
model sees it (the framed crop, 48x48 grey), and the label with its confidence.

    python scripts/study/video_sheet.py VIDEO RESULT_DIR --model MODEL [--frames 6] [-o sheet.png]

RESULT_DIR is fer-video's folder for that video (its frames.csv); MODEL the one it ran with
(its framing cuts the crops). The study report's video section uses it (docs/study/final/video).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

from fer.checkpoint import load_model
from fer.framing import Framing
from fer.io import atomic_path
from fer.modelinfo import CheckpointError


def read_rows(result: Path) -> list[dict[str, str]]:
    """frames.csv's rows that hold a face."""
    with (result / "frames.csv").open() as f:
        return [r for r in csv.DictReader(f) if r.get("x1")]


def frame_at(video: Path, seconds: float) -> np.ndarray:
    """The RGB frame shown at `seconds`."""
    capture = cv2.VideoCapture(str(video))
    try:
        capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise ValueError(f"{video}: no frame at {seconds:.2f} s")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def draw_sheet(video: Path, result: Path, framing: Framing, frames: int, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(result)
    if not rows:
        raise ValueError(f"{result / 'frames.csv'}: no face in any sampled frame")
    picks = [
        rows[i] for i in np.linspace(0, len(rows) - 1, min(frames, len(rows))).round().astype(int)
    ]
    fig, axes = plt.subplots(2, len(picks), figsize=(2.1 * len(picks), 4.2), squeeze=False)
    for k, row in enumerate(picks):
        image = frame_at(video, float(row["time_s"]))
        box = tuple(float(row[c]) for c in ("x1", "y1", "x2", "y2"))
        crop = cv2.cvtColor(framing.crop(image, box), cv2.COLOR_RGB2GRAY)
        crop = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
        label = row["label"]
        top = axes[0, k]
        top.imshow(image)
        x1, y1, x2, y2 = box
        top.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="lime", lw=1.5))
        top.set_title(f"{float(row['time_s']):.1f} s", fontsize=8)
        top.axis("off")
        bottom = axes[1, k]
        bottom.imshow(crop, cmap="gray", vmin=0, vmax=255)
        smoothed = row.get("label_smoothed") or label
        bottom.set_title(
            f"{label} {float(row[label]):.0%}\nsmoothed: {smoothed}", fontsize=8, linespacing=1.1
        )
        bottom.axis("off")
    fig.suptitle(f"{video.name}: sampled frames and the model's 48×48 input", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="video_sheet.py",
        description="Draw sampled frames of a fer-video result with each face's box, the 48x48 "
        "crop the model classified and its label (frame's own and smoothed).",
        epilog="example: python scripts/study/video_sheet.py clip.mp4 video_results/clip "
        "--model members/cnn-light-s0.safetensors",
    )
    parser.add_argument("video", type=Path, help="the video fer-video analysed")
    parser.add_argument("result", type=Path, help="fer-video's folder for it (frames.csv)")
    parser.add_argument("--model", required=True, help="the model fer-video ran (its framing)")
    parser.add_argument("--frames", type=int, default=6, help="frames on the sheet (default 6)")
    parser.add_argument("-o", "--out", type=Path, help="PNG (default RESULT/sheet.png)")
    args = parser.parse_args(argv)
    try:
        if not args.video.is_file():
            raise FileNotFoundError(f"{args.video}: no such video")
        _, info = load_model(args.model)
        framing = Framing.from_dict(info.framing)
        with atomic_path(args.out or args.result / "sheet.png") as tmp:
            draw_sheet(args.video, args.result, framing, args.frames, tmp)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"video_sheet.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out or args.result / 'sheet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
