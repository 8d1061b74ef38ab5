"""Classification time per face: the model as loaded against its CNNs fused into one network.

    python scripts/bench/bench_predict.py [--model MODEL] [--repeats 300]

A face alone (batch of one, preprocessing included, the median of `--repeats`), as a video or
webcam classifies it: with and without the model's test-time augmentation, at the precision
the tools use here (bf16 where the CPU supports it) and in fp32. `fused` is what fer's tools
run (`Predictor(fuse=True)`: an ensemble's same-shaped members side by side as one grouped
network, batch norms folded); `as loaded` runs the model's own modules one member after another;
`compiled` (with `--compile`) is the fused network after `Predictor.compile`, as `fer-video
--compile` runs it.
`detected`: a face found by detection, cut into the crops the model's framing takes (one; or
the box's and the landmarks' for a framing with anchors and without `one_crop`) and classified
together, without TTA. `photo` (with `--photos`): a whole photo as fer-predict handles it, face
detection, cropping and classification with the model's TTA (the median over the photos; a
video given there is cut into one photo a second). The `onnxrt` row is the same model on
onnxruntime (its detector too), as `--runtime onnx` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fer import Predictor
from fer.inference.frames import sample_frames
from fer.inference.images import read_image
from fer.inference.onnx_predictor import OnnxPredictor
from fer.inference.timing import ms_per_face, ms_per_photo
from fer.modelinfo import DEFAULT_ONNX, CheckpointError
from fer.preprocess import IMAGE_SUFFIXES
from fer.runtime import hardware


def read_photos(paths: list[Path], parser: argparse.ArgumentParser) -> list[np.ndarray]:
    """RGB arrays of the photos in `paths`; a video becomes one photo per second of it."""
    photos = []
    for path in paths:
        if not path.is_file():
            parser.error(f"no such photo or video: {path}")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            photos.append(np.asarray(read_image(path)))
        else:
            photos += [frame.rgb for frame in sample_frames(path, 1.0)]
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="run directory, checkpoint or .safetensors (default: shipped)"
    )
    parser.add_argument("--repeats", type=int, default=300, help="timed faces per setting")
    parser.add_argument(
        "--onnx",
        help="its fer-export file, timed on onnxruntime too (default with the shipped model: "
        "the shipped ONNX export)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the fused network compiled (Predictor.compile, as fer-video --compile)",
    )
    parser.add_argument(
        "--photos",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="photos, or videos cut into one photo a second, to time whole photos on",
    )
    parser.add_argument("--photo-repeats", type=int, default=30, help="timed photos per setting")
    args = parser.parse_args()
    if args.repeats < 1 or args.photo_repeats < 1:
        parser.error("--repeats and --photo-repeats must be at least 1")
    photos = read_photos(args.photos or [], parser)
    try:
        base = Predictor.load(args.model)
    except (CheckpointError, FileNotFoundError) as e:
        raise SystemExit(f"bench_predict: error: {e}") from None
    info = base.info
    shape = (50, info.input_size, info.input_size) + (() if info.channels == 1 else (3,))
    faces = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    ttas = ["none"] + ([base.tta] if base.tta != "none" else [])
    crops = base.framing.crops_per_face
    print(
        f"device: {hardware()}; model: {args.model or 'shipped'}; batch of one; "
        f"a detected face is cut into {crops} crop{'s' if crops > 1 else ''}"
    )
    header = "".join(f"{'tta ' + t:>12}" for t in ttas) + f"{'detected':>12}"
    header += f"{'photo':>12}" if photos else ""
    print(f"{'precision':<11}{'network':<11}" + header)
    for precision in ("auto", "32-true"):
        for fuse in (True, False):
            predictor = Predictor(base.model, info, precision=precision, fuse=fuse)
            label = "bf16-mixed" if predictor.bf16 else "32-true"
            times = [ms_per_face(predictor, faces, args.repeats, tta) for tta in ttas]
            times.append(ms_per_face(predictor, faces, args.repeats, crops=crops))
            if photos:
                times.append(ms_per_photo(predictor, photos, args.photo_repeats))
            network = "fused" if predictor.net is not predictor.model else "as loaded"
            print(f"{label:<11}{network:<11}" + "".join(f"{t:>9.2f} ms" for t in times))
            if args.compile and fuse:
                compiled = predictor.compile()
                if not compiled.compiled:
                    print(f"{label:<11}{'compiled':<11}compiling failed (see the warning)")
                    continue
                times = [ms_per_face(predictor, faces, args.repeats, tta) for tta in ttas]
                times.append(ms_per_face(predictor, faces, args.repeats, crops=crops))
                print(
                    f"{label:<11}{'compiled':<11}"
                    + "".join(f"{t:>9.2f} ms" for t in times)
                    + f"   (compiled in {compiled.compile_seconds:.0f} s)"
                )

    onnx = args.onnx or (None if args.model else DEFAULT_ONNX)
    if onnx is not None and Path(onnx).is_file():
        predictor = OnnxPredictor.load(onnx)
        times = [ms_per_face(predictor, faces, args.repeats, tta) for tta in ttas]
        times.append(ms_per_face(predictor, faces, args.repeats, crops=crops))
        if photos:
            times.append(ms_per_photo(predictor, photos, args.photo_repeats))
        print(f"{'32-true':<11}{'onnxrt':<11}" + "".join(f"{t:>9.2f} ms" for t in times))


if __name__ == "__main__":
    main()
