"""`fer-predict`: emotions of the faces in image files or folders, as CSV (one row per face)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from fer.cli.options import add_runtime, add_tta, finite, output_problem
from fer.inference.images import MAX_SIDE, downscaled, image_paths, read_image
from fer.inference.rows import face_rows, header

DETECT_BATCH = 16  # images per MTCNN batch
FACE_BATCH = 256  # images per batch with --no-detect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-predict",
        description="Predict the emotions of the faces in images (files or folders, recursively; "
        "jpg, png, tiff, bmp, webp; colour or grey; any size). Faces are found with MTCNN, "
        "cropped as the model's training faces were framed and converted exactly as the model "
        "was trained. One CSV row per "
        "face; an image without a face gets one row with an empty face column.",
        epilog="example: fer-predict --model outputs/2026-11-28/11-10-19 photos/ --out preds.csv",
    )
    parser.add_argument("paths", nargs="+", help="image files or folders")
    parser.add_argument(
        "--model",
        help="run directory, checkpoint, .safetensors or .onnx (default: the shipped model)",
    )
    parser.add_argument("--out", type=Path, help="CSV file to write (default: standard output)")
    parser.add_argument(
        "--no-detect", action="store_true", help="each image is already a cropped face"
    )
    add_tta(parser)
    add_runtime(parser, shipped_on_onnx=True)
    parser.add_argument(
        "--margin",
        type=finite,
        help="crop every face as the box grown by this fraction of its size on each side "
        "(default: the framing stored with the model, which matches its training faces)",
    )
    args = parser.parse_args(argv)
    if args.margin is not None and args.margin <= -0.5:
        parser.error("--margin must be greater than -0.5 (the crop needs a size)")
    if args.out and (problem := output_problem(args.out)):
        print(f"fer-predict: error: {problem}", file=sys.stderr)
        return 1

    # Deferred: the runtime loads only once the arguments are known good (fast --help).
    from fer.framing import Framing
    from fer.inference.loading import ModelLoadError, load_predictor
    from fer.modelinfo import CheckpointError

    try:
        predictor = load_predictor(args.model, args.runtime, shipped_on_onnx=True)
    except (CheckpointError, ModelLoadError, ValueError) as e:
        print(f"fer-predict: error: {e}", file=sys.stderr)
        return 1
    framing = None if args.margin is None else Framing.from_margin(args.margin)
    paths = list(image_paths(args.paths))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(predictor.classes))
    done = Done()
    try:
        predict_paths(predictor, paths, writer, done, args.no_detect, args.tta, framing)
    except KeyboardInterrupt:  # the rows of the images done so far are kept
        done.interrupted = True
    try:
        _write(buffer.getvalue(), args.out)
    except OSError as e:
        print(f"fer-predict: error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    read = done.images - done.failed
    wrote = f"; wrote {args.out}" if args.out else ""
    if done.interrupted:
        print(
            f"fer-predict: interrupted after {done.images} of {len(paths)} images: the rows of "
            f"those {read} are written{wrote}",
            file=sys.stderr,
        )
        return 130
    if args.out:
        print(f"{done.faces} faces in {read} images{wrote}", file=sys.stderr)
    if done.failed:
        print(
            f"fer-predict: {done.failed} of {len(paths)} files could not be read", file=sys.stderr
        )
    return 1 if done.failed or not paths else 0


@dataclass
class Done:
    """How far a prediction got: images handled (read or not), unreadable ones, faces."""

    images: int = 0
    failed: int = 0
    faces: int = 0
    interrupted: bool = False


def predict_paths(
    predictor: Any,
    paths: list[Path],
    writer: Any,
    done: Done,
    no_detect: bool,
    tta: str | None,
    framing: Any,
) -> None:
    """Predict `paths` batch by batch, writing each face's row; `done` counts as it goes, so
    an interruption keeps every row of the batches finished before it."""
    step = FACE_BATCH if no_detect else DETECT_BATCH
    with tqdm(total=len(paths), desc="fer-predict", unit="img", disable=len(paths) < 2) as bar:
        for start in range(0, len(paths), step):
            chunk = paths[start : start + step]
            batch, images = _read_batch(chunk, no_detect)
            results = predictor.predict_images(
                images, detect=not no_detect, tta=tta, framing=framing
            )
            for path, image, faces in zip(batch, images, results):
                scale = downscaled(image) or 1.0
                writer.writerows(face_rows(str(path), faces, len(predictor.classes), scale))
                done.faces += len(faces)
            done.images += len(chunk)
            done.failed += len(chunk) - len(batch)
            bar.update(len(chunk))


def _read_batch(chunk: list[Path], no_detect: bool) -> tuple[list[Path], list[Image.Image]]:
    """The images of `chunk` that can be read, and their paths; the others said on stderr."""
    batch, images = [], []
    for path in chunk:
        try:
            images.append(read_image(path))
            batch.append(path)
            if (factor := downscaled(images[-1])) and not no_detect:
                tqdm.write(
                    f"fer-predict: {path} is over {MAX_SIDE} px: faces are searched in it "
                    f"downscaled {factor:.1f}x (boxes in the file's pixels)",
                    file=sys.stderr,
                )
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
            reason = (
                e.strerror
                if isinstance(e, OSError) and e.strerror
                else str(e)
                if type(e) is ValueError
                else "not a readable image"
            )
            tqdm.write(f"fer-predict: cannot read {path}: {reason}", file=sys.stderr)
    return batch, images


def _write(text: str, out: Path | None) -> None:
    """The CSV to `out` (atomically) or to standard output."""
    if out is None:
        sys.stdout.write(text)
        return
    from fer.io import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
