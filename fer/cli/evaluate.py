"""`fer-eval`: a run or model on a labelled split: metrics.json and figures (the library:
`fer.analysis.evaluate`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer.analysis.evaluate import SPLITS, evaluate, format_report, summarize
from fer.analysis.model_ref import is_sweep, sweep_runs
from fer.cli.options import add_tta
from fer.data.hdf5 import DatasetError
from fer.io import write_json
from fer.modelinfo import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-eval",
        description="Evaluate a model: accuracy, balanced accuracy, macro/weighted precision, "
        "recall and F1, per-class scores, confusion matrices, calibration and misclassified "
        "examples. Writes metrics.json and PNGs into RUN_DIR/eval/<split>/.",
        epilog="example: fer-eval --model outputs/2026-11-28/11-10-19 --split test --tta flip",
    )
    parser.add_argument(
        "--model",
        help="run directory, checkpoint, .safetensors, or a sweep "
        "directory (every run, with mean ± std); default: the shipped model",
    )
    parser.add_argument(
        "--split",
        choices=list(SPLITS),
        default="test",
        help="test = PrivateTest (report once), val = PublicTest or the run's k-fold; with "
        "another --data, the split that plays that role there",
    )
    add_tta(parser)
    parser.add_argument(
        "--data",
        help="HDF5 file (default: the run's data.path); another dataset from fer-prepare "
        "evaluates across datasets, classes matched by name",
    )
    parser.add_argument("--out", help="output directory (default: RUN_DIR/eval/<split>)")
    parser.add_argument("--no-wandb", action="store_true", help="do not log to the run's W&B run")
    args = parser.parse_args(argv)
    try:
        models = sweep_runs(args.model) if args.model and is_sweep(args.model) else [args.model]
        if not models:
            raise CheckpointError(f"{args.model}: no run with checkpoints/best.ckpt")
        reports = []
        for model in models:
            report = evaluate(
                model,
                args.split,
                args.tta,
                args.data,
                args.out if len(models) == 1 else None,
                not args.no_wandb,
            )
            reports.append(report)
            print(format_report(report) + f"\nwrote {report['out_dir']}/metrics.json and figures\n")
    except (CheckpointError, DatasetError, ValueError) as e:
        print(f"fer-eval: error: {e}", file=sys.stderr)
        return 1
    if len(reports) > 1:
        summary = summarize(reports)
        for key, s in summary.items():
            print(f"{key:18} {s['mean']:.4f} ± {s['std']:.4f}  (n={s['n']})")
        out = Path(args.model) / f"eval_{args.split}_summary.json"
        write_json(out, {"runs": [r["model"] for r in reports], "summary": summary})
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
