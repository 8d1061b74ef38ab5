"""`fer-prepare`: convert FER2013 (Kaggle zip, its folder or fer2013.csv[.gz]), or any labelled
face set in class folders, into one HDF5 dataset file."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer.data.ferplus import FERPLUS_CLASSES, convert_ferplus
from fer.data.folders import (
    FolderReport,
    face_loader,
    is_fer2013_folder,
    parse_fractions,
    read_folders,
)
from fer.data.hdf5 import DatasetError, dataset_info, write_dataset
from fer.data.sources import Invalid, PrepareError, Sample, read_source
from fer.labels import CLASSES, USAGES

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
        size=args.size or 48,
        channels=args.channels or 1,
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer-prepare",
        description=(
            "Convert FER2013 into the HDF5 file that training reads. SOURCE is the Kaggle zip "
            "(train/<emotion>/, test/<emotion>/), its extracted folder, or the original "
            "fer2013.csv (optionally .gz). Usages come from the file-name prefixes "
            "Training_/PublicTest_/PrivateTest_; without them train/ becomes Training and test/ "
            "is split per class, deterministically, into PublicTest and PrivateTest halves."
        ),
        epilog="example: fer-prepare ~/Downloads/fer2013.zip -o data/fer2013.h5",
    )
    parser.add_argument("source", nargs="?", type=Path, help="zip, folder or CSV to convert")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("data/fer2013.h5"),
        help="HDF5 file to write (default: data/fer2013.h5)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip bad images/rows (reported) instead of stopping at the first",
    )
    parser.add_argument(
        "--info", type=Path, metavar="H5", help="print counts of an HDF5 file and exit"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    other = parser.add_argument_group(
        "other labelled sets",
        "SOURCE a folder of class folders, DIR/<class>/* or DIR/{train,val,test}/<class>/*; "
        "class names map to fer's (anger -> angry, happiness -> happy, ...), others (contempt) "
        "stay classes of their own. Any of these options reads a FER2013-like folder so too.",
    )
    other.add_argument("--size", type=int, help="stored image side in pixels (default 48)")
    other.add_argument("--channels", type=int, choices=(1, 3), help="1: grey (default), 3: RGB")
    other.add_argument(
        "--classes", help="comma-separated classes to keep, in this order (default: all found)"
    )
    other.add_argument(
        "--split",
        help="split DIR/<class>/* into e.g. train=0.8,val=0.1,test=0.1 (stratified, seeded); "
        "default: all of it is an evaluation-only test split",
    )
    parser.add_argument(
        "--ferplus",
        type=Path,
        metavar="VOTES",
        help="FER+ labels: with SOURCE the original fer2013.csv and VOTES Microsoft's "
        "fer2013new.csv, write 8 classes (with contempt), majority labels and vote "
        "distributions (train on them with data.targets=soft)",
    )
    other.add_argument(
        "--detect",
        action="store_true",
        help="find the face in each photograph first (MTCNN and the crop of the framing "
        "inference uses); photos without a face are skipped",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.info:
            meta, counts = dataset_info(args.info)
            print(
                f"{args.info}: {meta.name}, {meta.image_size}x{meta.image_size}, "
                f"{'grey' if meta.channels == 1 else 'RGB'}, roles "
                + ", ".join(f"{r}={s}" for r, s in meta.roles.items())
            )
            print(format_counts(counts, meta.classes))
            return 0
        if args.source is None:
            parser.error("SOURCE is required (or --info H5)")
        if args.size is not None and not 12 <= args.size <= 1024:
            parser.error("--size must be between 12 and 1024 pixels")
        if args.ferplus:
            counts, skipped = convert_ferplus(args.source, args.ferplus, args.output, args.force)
            print(format_counts(counts, FERPLUS_CLASSES))
            for reason, n in skipped.most_common():
                print(f"skipped {n:,} rows: {reason}")
            print(f"wrote {args.output}")
            return 0
        generic = any(
            v is not None and v is not False
            for v in (args.size, args.channels, args.classes, args.split, args.detect or None)
        )
        if generic or (args.source.is_dir() and not is_fer2013_folder(args.source)):
            return _report_folders(args, convert_folders(args.source, args.output, args))
        report = convert(
            args.source,
            args.output,
            force=args.force,
            skip_invalid=args.skip_invalid,
            progress=not args.quiet,
        )
    except (PrepareError, DatasetError) as e:
        print(f"fer-prepare: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fer-prepare: interrupted; no output written", file=sys.stderr)
        return 130
    print(format_counts(report.counts))
    if report.split_test:
        print(f"split {report.split_test:,} unprefixed test/ images into PublicTest/PrivateTest")
    if report.skipped:
        reasons = Counter(s.reason for s in report.skipped)
        print(f"skipped {len(report.skipped):,} invalid records:", file=sys.stderr)
        for reason, n in reasons.most_common():
            example = next(s.where for s in report.skipped if s.reason == reason)
            print(f"  {n:>6,}  {reason}  (e.g. {example})", file=sys.stderr)
    print(f"wrote {args.output} in {report.seconds:.1f} s")
    return 0


def _report_folders(args: argparse.Namespace, report: FolderReport) -> int:
    meta_classes = tuple(dataset_info(args.output)[0].classes)
    print(format_counts(report.counts, meta_classes))
    for folder, name in sorted(report.mapped.items()):
        print(f"class folder {folder!r} -> {name}")
    for reason, n in report.skipped.most_common():
        print(f"skipped {n:,}: {reason} (e.g. {report.examples[reason]})", file=sys.stderr)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
