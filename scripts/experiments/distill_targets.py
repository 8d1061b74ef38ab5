"""Write a dataset file whose training faces carry a teacher's targets, to distil an ensemble
into one model as fast as a single member.

    python scripts/experiments/distill_targets.py fer/assets/default.safetensors \\
        -o data/fer2013-distilled.h5
    python train.py experiment=cpu_best data.path=data/fer2013-distilled.h5 data.targets=soft

Each training face's target becomes (1 - alpha) * its label + alpha * the teacher's
probabilities (at --temperature); PublicTest and PrivateTest keep their labels, so selection
and reporting are unchanged. The teacher is any model file, run or ensemble that `fer-eval`
takes (default: the shipped model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer import Predictor
from fer.data.distill import write_distilled
from fer.data.hdf5 import DatasetError
from fer.modelinfo import TTA_MODES, CheckpointError

CHUNK = 2048  # faces per progress step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python scripts/experiments/distill_targets.py "
        "fer/assets/default.safetensors -o data/fer2013-distilled.h5",
    )
    parser.add_argument("teacher", nargs="?", help="model file, run or ensemble (default: shipped)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset file to write")
    parser.add_argument("--data", type=Path, default=Path("data/fer2013.h5"), help="source file")
    parser.add_argument("--alpha", type=float, default=0.5, help="teacher's share (default 0.5)")
    parser.add_argument("--temperature", type=float, default=1.0, help="T > 1 flattens (1.0)")
    parser.add_argument("--tta", choices=TTA_MODES, default="none")
    args = parser.parse_args(argv)
    try:
        if args.output.resolve() == args.data.resolve():
            raise ValueError(f"{args.output}: would overwrite the source; choose another -o")
        predictor = Predictor.load(args.teacher)

        def teacher(images: np.ndarray) -> np.ndarray:
            chunks = range(0, len(images), CHUNK)
            return np.concatenate(
                [
                    predictor.predict_faces(images[i : i + CHUNK], tta=args.tta)
                    for i in tqdm(chunks, desc="teacher", unit="chunk")
                ]
            )

        scores = write_distilled(
            args.data,
            args.output,
            teacher,
            predictor.classes,
            args.alpha,
            args.temperature,
            Path(args.teacher).name if args.teacher else "the shipped model",
        )
    except (OSError, ValueError, CheckpointError, DatasetError) as e:
        print(f"distill_targets: error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output}: teacher accuracy on the training faces "
        f"{scores['teacher_train_accuracy']:.2%}, mean confidence "
        f"{scores['teacher_mean_confidence']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
