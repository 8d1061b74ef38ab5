"""Convert FER2013 (Kaggle zip, its folder or fer2013.csv[.gz]), or any labelled
face set in class folders, into one HDF5 dataset file."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer.data.folders import (
    FolderReport,
    face_loader,
    parse_fractions,
    read_folders,
)
from fer.data.hdf5 import write_dataset
from fer.data.sources import Invalid, PrepareError, Sample, read_source
from fer.fer2013 import CHANNELS, CLASSES, IMAGE_SIZE, USAGES

SPLIT_SEED = 0  # fixes the PublicTest/PrivateTest halves of an unprefixed test/ folder


@dataclass
class Report:
    counts: dict[str, np.ndarray]  # per usage, per class
    skipped: list[Invalid] = field(default_factory=list)
    seconds: float = 0.0
    split_test: int = 0  # unprefixed test/ images split into PublicTest/PrivateTest


def convert(
    source: Path,
    output: Path,
    *,
    force: bool = False,
    skip_invalid: bool = False,
    progress: bool = True,
) -> Report:
    """Read `source`, check every record, and write `output` atomically. Raises PrepareError."""
    start = time.perf_counter()
    src = read_source(source)
    if output.exists() and not force:
        raise PrepareError(f"{output}: already exists; pass --force to overwrite it")
    by_usage: dict[str | None, list[Sample]] = {u: [] for u in (*USAGES, None)}
    skipped: list[Invalid] = []
    for record in tqdm(
        src.records, total=src.size, desc="reading", unit="img", disable=not progress
    ):
        if isinstance(record, Invalid):
            if not skip_invalid:
                raise PrepareError(
                    f"{record.where}: {record.reason} (--skip-invalid skips such records)"
                )
            skipped.append(record)
        else:
            by_usage[record.usage].append(record)
    if not any(by_usage.values()):
        raise PrepareError(f"{source}: no valid FER2013 images or rows found")
    pending = by_usage.pop(None)
    public, private = split_stratified(pending)
    by_usage["PublicTest"] += public
    by_usage["PrivateTest"] += private
    splits = {u: _stack(by_usage[u]) for u in USAGES}
    write_dataset(output, splits, source=source.name, sha256=src.digest())
    counts = {u: np.bincount(splits[u][1], minlength=len(CLASSES)) for u in USAGES}
    return Report(counts, skipped, time.perf_counter() - start, len(pending))


def split_stratified(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Unprefixed test images -> PublicTest/PrivateTest halves, per class, deterministically."""
    rng = np.random.default_rng(SPLIT_SEED)
    first: list[Sample] = []
    second: list[Sample] = []
    for label in range(len(CLASSES)):
        members = sorted((s for s in samples if s.label == label), key=lambda s: s.where)
        order = rng.permutation(len(members))
        half = (len(members) + 1) // 2
        first += [members[i] for i in order[:half]]
        second += [members[i] for i in order[half:]]
    return first, second


def format_counts(counts: dict[str, np.ndarray], classes: tuple[str, ...] = CLASSES) -> str:
    """A table of images per split (rows) and class (columns)."""
    width = max(len(c) for c in classes)
    lines = [f"{'':12}" + "".join(f"{c:>{width + 1}}" for c in classes) + f"{'total':>8}"]
    for usage, row in counts.items():
        lines.append(
            f"{usage:12}" + "".join(f"{n:>{width + 1},}" for n in row) + f"{row.sum():>8,}"
        )
    return "\n".join(lines)


def convert_folders(source: Path, output: Path, args: argparse.Namespace) -> FolderReport:
    """A class-folder set into `output` (fer-prepare DIR --size/--channels/--classes/--split)."""
    if output.exists() and not args.force:
        raise PrepareError(f"{output}: already exists; pass --force to overwrite it")
    load = None
    if args.detect:
        # Deferred: the detector imports torch, needed only with --detect.
        from fer.framing import FER2013 as FRAMING
        from fer.inference.faces import FaceDetector

        load = face_loader(FaceDetector(), FRAMING)
    kwargs = {"load": load} if load else {}
    arrays, meta, report = read_folders(
        source,
        size=args.size or IMAGE_SIZE,
        channels=args.channels or CHANNELS,
        classes=args.classes.split(",") if args.classes else None,
        split=parse_fractions(args.split) if args.split else None,
        progress=lambda it: tqdm(it, desc="reading", unit="img", disable=args.quiet),
        **kwargs,
    )
    if not any(len(labels) for _, labels in arrays.values()):
        raise PrepareError(f"{source}: no image could be used (see what was skipped)")
    write_dataset(output, arrays, source=source.name, sha256="", meta=meta)
    return report


def _stack(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([s.pixels for s in samples]) if samples else np.zeros((0, 48, 48), np.uint8)
    return images, np.array([s.label for s in samples], dtype=np.int64)
