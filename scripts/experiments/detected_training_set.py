"""Write a dataset file whose training split also holds each training face as the pipeline
crops it from a camera-like photo, to fine-tune a model on the crops it meets in photos.

    python scripts/experiments/detected_training_set.py -o data/fer2013-detected.h5  # ~35 min
    python train.py experiment=cpu_best data.path=data/fer2013-detected.h5 \\
        model.init_from=members/cnn-camera-s2.safetensors trainer.max_epochs=3 optimizer.lr=0.01

Every training face (or --n of them, seeded) is put into its own camera-like photo
(`fer.analysis.camera`, as the pipeline benchmark makes them), found by MTCNN and cut as the
model's framing says (--model; default the shipped model's). The crops are added to the
training split with their faces' labels (and their targets, when the source file carries
soft targets); faces the detector misses add nothing. PublicTest and PrivateTest are copied
unchanged, so selection and reporting stay on FER2013's own faces. Use another --seed than
the benchmark's photos (0) so that no photo is drawn alike.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fer import Predictor
from fer.analysis.detected import detected_crops
from fer.data.distill import source_digest
from fer.data.hdf5 import DatasetError, dataset_meta, read_split, read_votes, write_dataset
from fer.modelinfo import CheckpointError


def write_detected(
    source: Path, output: Path, predictor: Predictor, n: int | None, seed: int
) -> dict[str, float]:
    """Copy `source` to `output` (atomically) with the detected crops of its training faces
    added to its training split; returns how many faces were tried and found."""
    meta = dataset_meta(source)
    if meta.channels != 1 or meta.image_size != predictor.info.input_size:
        raise DatasetError(f"{source}: grey faces of the model's size are needed")
    train = meta.split_for("train")
    splits = {split: read_split(source, split, classes=None) for split in meta.splits}
    votes = {split: read_votes(source, split) for split in meta.splits}
    images, labels = splits[train]
    rng = np.random.default_rng(seed)
    rows = np.arange(len(images)) if n is None else np.sort(rng.choice(len(images), n, False))
    crops, found = detected_crops(
        images[rows], predictor.detector, predictor.framing, rng, meta.image_size
    )
    source_rows = rows[found]
    splits[train] = (np.concatenate([images, crops]), np.concatenate([labels, labels[source_rows]]))
    if all(v is not None for v in votes.values()):
        votes[train] = np.concatenate([votes[train], votes[train][source_rows]])
    else:
        votes = None
    write_dataset(
        output,
        splits,
        f"{source.name} with {len(crops)} detected crops of its {train} faces (seed {seed})",
        source_digest(source),
        meta,
        votes=votes,
    )
    return {"tried": len(rows), "found": len(crops)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python scripts/experiments/detected_training_set.py "
        "-o data/fer2013-detected.h5",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset file to write")
    parser.add_argument("--data", type=Path, default=Path("data/fer2013.h5"), help="source file")
    parser.add_argument("--model", help="whose framing cuts the crops (default: the shipped model)")
    parser.add_argument("--n", type=int, help="training faces to photograph (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="photos' seed (default 1)")
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        parser.error("--n must be positive")
    try:
        if args.output.resolve() == args.data.resolve():
            raise ValueError(f"{args.output}: would overwrite the source; choose another -o")
        counts = write_detected(
            args.data, args.output, Predictor.load(args.model), args.n, args.seed
        )
    except (OSError, ValueError, CheckpointError, DatasetError) as e:
        print(f"detected_training_set: error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output}: {counts['found']} of {counts['tried']} training faces found "
        f"({counts['found'] / counts['tried']:.1%}) and added as detected crops"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
