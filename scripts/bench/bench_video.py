"""Video pipeline speed on each runtime: per-frame stages, and the whole `fer-video` command.

    python scripts/bench/bench_video.py VIDEO [--model MODEL] [--runtime torch onnx]
        [--make-20s OUT.mp4] [--end-to-end [--tta-none]] [--pypi-fer PYTHON] [--facenet]

For each runtime (torch and onnxruntime by default), at --fps 1 and --fps 0 (every frame):
decoding, detection batched (as fer-video runs it) and one frame at a time, and classification,
in ms per sampled frame, each the best of 3 runs. `--end-to-end` also times the command a user
runs, `fer-video VIDEO --fps 1 --runtime R` from process start to every output written (start-up
and imports included), best of `--repeats` (`--tta-none`: also without the model's TTA).
`--pypi-fer PYTHON` times the PyPI package `fer` (installed in another environment, whose
python is PYTHON) on the same clip the same way: `Video.analyze` with `FER(mtcnn=True)` on one
frame per second (`frequency` = the clip's frame rate), its other settings at their defaults.
`--facenet` adds facenet-pytorch's own `MTCNN.detect` on the same frames. `--make-20s OUT.mp4`
first loops VIDEO into a 20-second clip.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fer.inference.classifier import FaceClassifier
from fer.inference.frames import sample_frames
from fer.inference.loading import RUNTIMES, load_predictor
from fer.inference.pipeline import BATCH
from fer.runtime import hardware

# Run under the PyPI `fer` package's own python: argv = video, output folder, frequency.
PYPI_FER = """
import sys
from fer.classes import Video
from fer.fer import FER
video, out, frequency = sys.argv[1], sys.argv[2], int(sys.argv[3])
Video(video, outdir=out).analyze(FER(mtcnn=True), display=False, frequency=frequency)
"""


def make_clip(source: Path, out: Path, seconds: float = 20.0) -> Path:
    """Loop `source` into a clip of `seconds` (same size and rate), forwards then backwards."""
    cap = cv2.VideoCapture(str(source))
    rate = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"bench_video: error: no frames could be read from {source}")
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


def bench_stages(predictor: FaceClassifier, video: Path, fps: float) -> None:
    """Per-frame decode, detect and classify times of one predictor at one sampling rate."""
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
        f"  --fps {fps:g}: {n} frames of {frames.shape[2]}x{frames.shape[1]}, {faces} faces; "
        f"per frame: decode {decode / n * 1000:.1f} ms, "
        f"detect {batched_and_single(lambda b: detector.detect(list(b)), frames)}, "
        f"classify {classify / n * 1000:.1f} ms"
    )


def wall_seconds(command: list[str], repeats: int) -> float:
    """The fastest of `repeats` runs of `command`, in seconds from process start to exit; each
    runs in a new folder ("{out}" in `command`), so no package in this one shadows another's."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            done = subprocess.run(
                [part.replace("{out}", out) for part in command],
                capture_output=True,
                text=True,
                cwd=out,
            )
            times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"bench_video: error: {command[0]} failed:\n{done.stderr[-2000:]}")
    return min(times)


def frame_rate(video: Path) -> float:
    cap = cv2.VideoCapture(str(video))
    rate = cap.get(cv2.CAP_PROP_FPS) or 30.0
    cap.release()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", help="run directory, checkpoint or .onnx (default: shipped)")
    parser.add_argument(
        "--runtime", nargs="+", choices=RUNTIMES, default=list(RUNTIMES), help="runtimes to time"
    )
    parser.add_argument(
        "--make-20s", type=Path, metavar="OUT", help="loop VIDEO into a 20 s clip first"
    )
    parser.add_argument(
        "--fps", type=float, action="append", help="sampling rate(s) to measure (default: 1 and 0)"
    )
    parser.add_argument(
        "--end-to-end", action="store_true", help="also time the fer-video command (--fps 1)"
    )
    parser.add_argument(
        "--pypi-fer", metavar="PYTHON", help="python of an environment with PyPI's fer, to time"
    )
    parser.add_argument(
        "--tta-none",
        action="store_true",
        help="with --end-to-end: also time each runtime without the model's test-time augmentation",
    )
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs; the best counts")
    parser.add_argument(
        "--facenet", action="store_true", help="also time facenet-pytorch's own MTCNN.detect"
    )
    args = parser.parse_args()
    if not args.video.is_file():
        parser.error(f"no such video: {args.video}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    video = (make_clip(args.video, args.make_20s) if args.make_20s else args.video).resolve()
    print(f"device: {hardware()}; video: {video}")
    for runtime in args.runtime:
        predictor = load_predictor(args.model, runtime)
        print(f"runtime {runtime}:")
        for fps in args.fps or (1.0, 0.0):
            bench_stages(predictor, video, fps)
    if args.facenet:
        from facenet_pytorch import MTCNN

        frames = np.stack([s.rgb for s in sample_frames(video, 1.0)])
        facenet = MTCNN(keep_all=True, device="cpu")
        timing = batched_and_single(facenet.detect, frames)
        print(f"facenet-pytorch MTCNN.detect, --fps 1: {timing}")

    walls = {}
    if args.end_to_end:
        fer_video = str(Path(sys.executable).with_name("fer-video"))
        model = ["--model", str(Path(args.model).resolve())] if args.model else []
        for runtime in args.runtime:
            command = [fer_video, str(video), "--fps", "1", "--runtime", runtime, "--out", "{out}"]
            walls[f"fer-video --runtime {runtime}"] = wall_seconds(command + model, args.repeats)
            if args.tta_none:
                walls[f"fer-video --runtime {runtime} --tta none"] = wall_seconds(
                    command + model + ["--tta", "none"], args.repeats
                )
    if args.pypi_fer:
        frequency = str(round(frame_rate(video)))
        command = [args.pypi_fer, "-c", PYPI_FER, str(video), "{out}", frequency]
        walls[f"PyPI fer (mtcnn=True, frequency={frequency})"] = wall_seconds(command, args.repeats)
    if walls:
        reference = next((t for name, t in walls.items() if name.startswith("PyPI")), None)
        print(f"whole command, one frame a second, best of {args.repeats}:")
        for name, seconds in walls.items():
            ratio = f" ({seconds / reference:.2f}x PyPI fer)" if reference else ""
            print(f"  {name:<44}{seconds:7.2f} s{ratio}")


if __name__ == "__main__":
    main()
