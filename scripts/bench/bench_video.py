"""Video pipeline speed: seconds per sampled frame for decoding, detection and classification.

    python scripts/bench/bench_video.py VIDEO [--model RUN_DIR] [--make-20s OUT.mp4]

Measures at --fps 1 and --fps 0 (every frame), detection batched (as fer-video runs it) and one
frame at a time, for fer's detector (fer/inference/mtcnn.py) and, with `--facenet`, for
facenet-pytorch's own `MTCNN.detect` on the same frames; each timing is the best of 3 runs.
`--make-20s OUT.mp4` first loops VIDEO into a 20-second clip and benchmarks that.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fer.inference.frames import sample_frames
from fer.inference.pipeline import BATCH
from fer.inference.predictor import Predictor


def make_clip(source: Path, out: Path, seconds: float = 20.0) -> Path:
    """Loop `source` into a clip of `seconds` (same size and rate)."""
    cap = cv2.VideoCapture(str(source))
    rate = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    writer = cv2.VideoWriter(
        str(out), cv2.VideoWriter_fourcc(*"mp4v"), rate, frames[0].shape[1::-1]
    )
    for i in range(int(seconds * rate)):
        cycle = i // len(frames)
        writer.write(frames[i % len(frames)] if cycle % 2 == 0 else frames[-1 - i % len(frames)])
    writer.release()
    return out


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of `repeats` timings of `work`, in seconds (less noise than one run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def batched_and_single(detect: Callable[[np.ndarray], object], frames: np.ndarray) -> str:
    """'batched B ms, one at a time S ms' per frame for a detector's `detect` on N frames."""
    detect(frames[:1])  # warm-up
    n = len(frames)
    batched = best_of(3, lambda: [detect(frames[i : i + BATCH]) for i in range(0, n, BATCH)])
    single = best_of(3, lambda: [detect(frames[i : i + 1]) for i in range(n)])
    return f"batched {batched / n * 1000:.1f} ms, one at a time {single / n * 1000:.1f} ms"


def bench(predictor: Predictor, video: Path, fps: float, facenet: object | None) -> None:
    start = time.perf_counter()
    samples = list(sample_frames(video, fps))
    decode = time.perf_counter() - start
    frames = np.stack([s.rgb for s in samples])
    detector = predictor.detector
    batches = [list(frames[i : i + BATCH]) for i in range(0, len(frames), BATCH)]
    found = [faces for batch in batches for faces in detector.detect(batch)]
    images = list(frames)
    classify = best_of(3, lambda: predictor.classify_detections(images, found))
    n = len(frames)
    faces = sum(len(f) for f in found)
    print(
        f"--fps {fps:g}: {n} frames of {frames.shape[2]}x{frames.shape[1]}, {faces} faces; "
        f"per frame: decode {decode / n * 1000:.1f} ms, "
        f"detect {batched_and_single(lambda b: detector.detect(list(b)), frames)}, "
        f"classify {classify / n * 1000:.1f} ms"
    )
    if facenet is not None:
        print(f"  facenet-pytorch MTCNN.detect: {batched_and_single(facenet.detect, frames)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", help="run directory or checkpoint (default: the shipped model)")
    parser.add_argument(
        "--make-20s", type=Path, metavar="OUT", help="loop VIDEO into a 20 s clip first"
    )
    parser.add_argument(
        "--facenet", action="store_true", help="also time facenet-pytorch's own MTCNN.detect"
    )
    parser.add_argument(
        "--fps", type=float, action="append", help="sampling rate(s) to measure (default: 1 and 0)"
    )
    args = parser.parse_args()
    video = make_clip(args.video, args.make_20s) if args.make_20s else args.video
    predictor = Predictor.load(args.model)
    facenet = None
    if args.facenet:
        from facenet_pytorch import MTCNN

        facenet = MTCNN(keep_all=True, device="cpu")
    for fps in args.fps or (1.0, 0.0):
        bench(predictor, video, fps, facenet)


if __name__ == "__main__":
    main()
