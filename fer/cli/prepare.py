"""`fer-prepare`: convert FER2013 (the Kaggle zip, its folder or fer2013.csv[.gz]), or any labelled
face set in class folders, into one HDF5 dataset file (the library: `fer.data.prepare`)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from fer.cli.options import output_problem
from fer.data.ferplus import FERPLUS_CLASSES, convert_ferplus
from fer.data.folders import (
    FolderReport,
    is_fer2013_folder,
)
from fer.data.hdf5 import DatasetError, dataset_info
from fer.data.prepare import convert, convert_folders, format_counts
from fer.data.sources import PrepareError


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
        if problem := output_problem(args.output):
            raise PrepareError(problem)
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
    except OSError as e:  # e.g. a full disk or a read-only place: nothing half-written is left
        where = e.filename if e.filename and not str(e.filename).endswith(".tmp") else args.output
        print(f"fer-prepare: error: {where}: {e.strerror or e}", file=sys.stderr)
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
