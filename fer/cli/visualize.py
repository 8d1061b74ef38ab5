"""`fer-viz`: inside a trained network: filters, activations per emotion, Grad-CAM and t-SNE (the
library: `fer.analysis.visualize`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer.analysis.visualize import visualize
from fer.data.hdf5 import DatasetError
from fer.modelinfo import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-viz",
        description="Visualise what a model learned: the filters of every conv layer, the most "
        "active feature maps per emotion, where each emotion excites each stage (averaged over "
        "its faces), per-class mean activations, Grad-CAM heatmaps and a t-SNE embedding of "
        "penultimate features. Writes PNGs into RUN_DIR/viz/.",
        epilog="example: fer-viz --model outputs/2026-11-28/11-10-19",
    )
    parser.add_argument(
        "--model", help="run directory, checkpoint or .safetensors (default: shipped model)"
    )
    parser.add_argument("--split", choices=["test", "val"], default="test", help="faces to show")
    parser.add_argument("--data", help="HDF5 file (default: the run's data.path)")
    parser.add_argument("--out", help="output directory (default: RUN_DIR/viz)")
    parser.add_argument("--per-class", type=int, default=3, help="faces per emotion (default 3)")
    parser.add_argument("--tsne-samples", type=int, default=1500, help="faces in the t-SNE plot")
    parser.add_argument("--no-wandb", action="store_true", help="do not log to the run's W&B run")
    parser.add_argument(
        "--no-faces",
        action="store_true",
        help="only figures that show no dataset face (to publish: FER2013 is not ours to share)",
    )
    args = parser.parse_args(argv)
    try:
        figures = visualize(
            args.model,
            args.split,
            args.data,
            args.out,
            args.per_class,
            args.tsne_samples,
            not args.no_wandb,
            faces=not args.no_faces,
        )
    except (CheckpointError, DatasetError, ValueError) as e:
        print(f"fer-viz: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(figures)} figures to {Path(next(iter(figures.values()))).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
