"""When does a self-supervised representation help? Supervised from scratch against SimCLR
pretraining plus a linear probe or fine-tuning, with all and with 10% of the labels, at about
equal training time per arm on this machine.

Each arm gets `--minutes` in all: scratch trains that long; the SimCLR arms share one
pretraining run of `--pretrain-minutes` (counted in each arm's time) and train for the rest.
Epoch counts come from the measured speed of each kind of epoch on a 2-core AVX512-BF16 CPU
(`--epochs` overrides them). Every run lands in OUT/<arm>; at the end the table is printed and
written to OUT/comparison.md, and `fer-compare OUT` shows the same runs.

    python scripts/experiments/ssl_comparison.py --out multirun/ssl-comparison
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fer.io import atomic_path

# Seconds per epoch measured here (idle 2-core AMD EPYC, bf16), validation included.
SECONDS_PER_EPOCH = {
    ("scratch", 1.0): 40.0,
    ("scratch", 0.1): 6.0,
    ("probe", 1.0): 14.0,
    ("probe", 0.1): 3.0,
    ("finetune", 1.0): 40.0,
    ("finetune", 0.1): 6.0,
    ("pretrain", 1.0): 95.0,
}


def epochs_for(kind: str, fraction: float, seconds: float) -> int:
    return max(1, round(seconds / SECONDS_PER_EPOCH[(kind, fraction)]))


def run(command: list[str], log: Path) -> None:
    print("$", " ".join(command), flush=True)
    with log.open("w") as f:
        result = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode:
        sys.exit(f"ssl_comparison: {command[1]} failed (exit {result.returncode}); see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("multirun/ssl-comparison"))
    parser.add_argument("--minutes", type=float, default=10.0, help="training time per arm")
    parser.add_argument("--pretrain-minutes", type=float, default=6.0)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.1])
    parser.add_argument("--data", default="data/fer2013.h5")
    parser.add_argument("overrides", nargs="*", help="extra key=value for every run")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"ssl_comparison: {args.data} not found (run fer-prepare first)")
    args.out.mkdir(parents=True, exist_ok=True)
    common = [f"data.path={args.data}", "trainer.enable_progress_bar=false", *args.overrides]
    pretrain_dir = args.out / "pretrain"
    rest = (args.minutes - args.pretrain_minutes) * 60
    if not (pretrain_dir / "encoder.safetensors").is_file():
        epochs = epochs_for("pretrain", 1.0, args.pretrain_minutes * 60)
        run(
            [
                sys.executable,
                "pretrain.py",
                f"trainer.max_epochs={epochs}",
                f"hydra.run.dir={pretrain_dir}",
                *common,
            ],
            args.out / "pretrain.log",
        )
    pretrain_s = json.loads((pretrain_dir / "metrics.json").read_text())["wall_time_s"]
    arms = {
        "scratch": ([], args.minutes * 60),
        "probe": ([f"model.init_from={pretrain_dir}", "model.freeze=true"], rest),
        "finetune": ([f"model.init_from={pretrain_dir}"], rest),
    }
    rows = []
    for fraction in args.fractions:
        for kind, (extra, seconds) in arms.items():
            name = f"{kind}-{fraction:g}"
            run_dir = args.out / name
            if not (run_dir / "metrics.json").is_file() or _status(run_dir) != "completed":
                started = time.perf_counter()
                run(
                    [
                        sys.executable,
                        "train.py",
                        f"data.limit={fraction:g}",
                        f"trainer.max_epochs={epochs_for(kind, fraction, seconds)}",
                        f"hydra.run.dir={run_dir}",
                        *extra,
                        *common,
                    ],
                    args.out / f"{name}.log",
                )
                print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            own = metrics["wall_time_s"]
            total = own + (pretrain_s if kind != "scratch" else 0.0)
            rows.append(
                [
                    kind,
                    f"{fraction:.0%}",
                    str(metrics["epochs"]),
                    f"{total / 60:.1f}",
                    f"{metrics['val']['acc']:.4f}",
                    f"{metrics['test']['acc']:.4f}",
                    f"{metrics['test']['f1_macro']:.4f}",
                ]
            )
    header = ["method", "labels", "epochs", "minutes (incl. pretraining)", "val_acc"]
    header += ["test_acc", "test_f1"]
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(r) + " |" for r in rows]
    )
    knn = json.loads((pretrain_dir / "metrics.json").read_text())["knn_acc"]
    summary = f"{table}\n\nSimCLR pretraining: {pretrain_s / 60:.1f} min, kNN val acc {knn:.4f}\n"
    with atomic_path(args.out / "comparison.md") as tmp:
        tmp.write_text(summary)
    print(summary)


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "metrics.json").read_text()).get("status", "")


if __name__ == "__main__":
    main()
