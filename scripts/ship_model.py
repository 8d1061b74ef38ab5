"""Ship a run's selected model inside the package: fer/assets/default.safetensors + its card.

    python scripts/ship_model.py outputs/cpu_best [--data data/fer2013.h5]

Exports checkpoints/best.ckpt as safetensors (weights and `fer` metadata, no pickle), evaluates
it fresh on PublicTest and PrivateTest (with and without test-time augmentation), and writes
MODEL_CARD.md and card.json beside it. fer-predict, fer-eval and fer-video use it when --model
is omitted.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from export_member import run_command, training_facts  # scripts/, beside this file

from fer.analysis.evaluate import evaluate
from fer.analysis.runs import resolve_run
from fer.checkpoint import DEFAULT_MODEL, export_model
from fer.io import atomic_path, write_json
from fer.labels import CLASSES
from fer.runtime import cpu_name

MAX_BYTES = 10 * 1024 * 1024


def card_markdown(
    run_dir: Path, metrics: dict, evals: dict, command: str, size: int, note: str = ""
) -> str:
    test = evals["test"]
    cm = test["confusion_matrix"]
    tta_rows = "\n".join(
        f"| {e['usage']}{' (selection)' if e['usage'] == 'PublicTest' else ''} | {e['tta']} | {e['accuracy']:.4f} | {e['balanced_accuracy']:.4f} | {e['f1_macro']:.4f} |"
        for e in evals.values()
    )
    rows = "\n".join(
        f"| {c} | " + " | ".join(str(v) for v in cm[i]) + " |" for i, c in enumerate(CLASSES)
    )
    recall = " | ".join(f"{test['per_class'][c]['recall']:.3f}" for c in CLASSES)
    return f"""# The default fer model

A {metrics["params"]:,}-parameter CNN (`fer/assets/default.safetensors`, {size / 1e6:.1f} MB,
safetensors: loads without executing pickled code) for 48×48 grey faces and seven emotions.

- **Data**: FER2013, trained on Training (28,709 faces), checkpoint selected on PublicTest
  (3,589), reported once on PrivateTest (3,589).
- **Recipe**: `{command}` (the full resolved config is the run's `.hydra/config.yaml`).
- **Training**: {metrics["epochs"]} epochs in {metrics["wall_time_s"] / 60:.1f} minutes wall time
  (validation included) on {cpu_name()} ({os.cpu_count()} cores),
  {metrics["train_images_per_s"]:.0f} training images/s, precision {metrics["precision"]}. {note}
- **Input**: grey 48×48, pixels / 255, standardised with the mean and std stored in the file.
  `fer-predict`, `fer-video` and `fer-app` detect faces with MTCNN and cut each one as FER2013's
  faces are framed (1.085 box sizes, eyes levelled; `fer/framing.py`, `--margin` overrides).

| split | TTA | accuracy | balanced accuracy | macro F1 |
|---|---|---|---|---|
{tta_rows}

Test-time augmentation (TTA) is chosen on PublicTest: the mode with the best PublicTest accuracy
is the one to report on PrivateTest (`fer-eval --tta flip|crops`; crops = 5 shifted crops × flip).

Per-class recall on PrivateTest (no TTA):

| {" | ".join(CLASSES)} |
|{"---|" * len(CLASSES)}
| {recall} |

Confusion matrix on PrivateTest (rows: true, columns: predicted):

| true ↓ predicted → | {" | ".join(CLASSES)} |
|---|{"---|" * len(CLASSES)}
{rows}

Limitations: FER2013 faces are web images of posed and spontaneous expressions, mostly frontal;
disgust has few examples (436 in Training) and low recall; the model has not been evaluated on
other datasets, video, or across demographic groups.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the run directory to ship")
    parser.add_argument("--data", help="HDF5 file (default: the run's data.path)")
    parser.add_argument("--note", default="", help="a sentence on how training ran, for the card")
    args = parser.parse_args()
    out = DEFAULT_MODEL.parent
    metrics = json.loads((args.run_dir / "metrics.json").read_text())
    command = run_command(args.run_dir)
    export_model(args.run_dir, DEFAULT_MODEL)
    size = DEFAULT_MODEL.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{DEFAULT_MODEL} is {size / 1e6:.1f} MB, over the 10 MB limit")
    data = args.data or str(resolve_run(args.run_dir).data_path())
    evals = {  # the exported file itself is evaluated: what ships is what is measured
        name: evaluate(
            DEFAULT_MODEL,
            split,
            tta,
            data=data,
            log_wandb=False,
            out=str(args.run_dir / "eval" / f"shipped-{name}"),
        )
        for name, split, tta in (
            ("val", "val", "none"),
            ("val_flip", "val", "flip"),
            ("val_crops", "val", "crops"),
            ("test", "test", "none"),
            ("test_flip", "test", "flip"),
            ("test_crops", "test", "crops"),
        )
    }
    with atomic_path(out / "MODEL_CARD.md") as tmp:
        tmp.write_text(card_markdown(args.run_dir, metrics, evals, command, size, args.note))
    write_json(
        out / "card.json",
        {
            "command": command,
            **training_facts(metrics),
            **{
                name: {
                    k: e[k]
                    for k in (
                        "accuracy",
                        "balanced_accuracy",
                        "f1_macro",
                        "ece",
                        "n",
                        "tta",
                        "usage",
                    )
                }
                | {
                    "recall": {c: e["per_class"][c]["recall"] for c in CLASSES},
                    "confusion_matrix": e["confusion_matrix"],
                }
                for name, e in evals.items()
            },
        },
    )
    print(f"wrote {DEFAULT_MODEL} ({size / 1e6:.2f} MB), MODEL_CARD.md and card.json")
    for e in evals.values():
        print(f"{e['usage']:12} tta {e['tta']:5}: accuracy {e['accuracy']:.4f}")


if __name__ == "__main__":
    main()
