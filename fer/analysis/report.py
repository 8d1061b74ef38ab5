"""`fer-report`: a Markdown report of a sweep (or of a study's parts), in the shape an
assignment asks for.

Setup (data, splits, recipe, hardware), the ablation tables and plots, the chosen model's test
metrics and confusion matrix (drawn from its saved predictions when the run has no figure), its
filters and activation figures where they exist (or those of another model's `fer-viz` folder,
`--viz`), and the author's observations: marked places to fill in, or the sections of a notes
file (`--notes`), so the report can be regenerated as runs land without losing the prose.
Figures are linked by relative path, so the folder renders on GitHub.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from omegaconf import OmegaConf

from fer.analysis.compare import (
    Run,
    best_run,
    find_runs,
    markdown_table,
    seed_table,
    statistics,
    statistics_lines,
    swept_axes,
    table_rows,
    write_outputs,
)
from fer.io import atomic_path
from fer.labels import CLASSES
from fer.predictions import read_predictions
from fer.runs import configured_axes
from fer.runtime import hardware

YOURS = (
    "> ✍️ **Your observations:** _replace this line with what you see and why you think it happens._"
)
# The places for the author's prose, in report order; a notes file fills them by `## <key>`.
NOTE_KEYS = ("summary", "ablation", "chosen model", "network", "reflection")


def read_notes(path: Path) -> dict[str, str]:
    """The sections of a Markdown notes file, keyed by their `## ` heading (see NOTE_KEYS)."""
    notes: dict[str, list[str]] = {}
    key = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            key = line[3:].strip().lower()
            if key not in NOTE_KEYS:
                raise ValueError(
                    f"{path}: unknown section '## {line[3:].strip()}'; "
                    f"valid: {', '.join(NOTE_KEYS)}"
                )
            notes[key] = []
        elif key is not None:
            notes[key].append(line)
    return {k: "\n".join(v).strip() for k, v in notes.items()}


def _confusion_from_predictions(run: Run, report_dir: Path) -> Path | None:
    """The run's PrivateTest confusion matrix drawn from predictions/test.npz, if it has them."""
    predictions = read_predictions(run.path, "test")
    if predictions is None:
        return None
    from sklearn.metrics import confusion_matrix

    from fer.analysis.figures import confusion_figure  # matplotlib: only when drawing

    k = predictions["probs"].shape[1]
    cm = confusion_matrix(predictions["labels"], predictions["probs"].argmax(1), labels=range(k))
    return confusion_figure(
        cm, list(CLASSES[:k]), report_dir / "figures" / "confusion_matrix.png", "PrivateTest"
    )


def _img(path: Path, report_dir: Path, alt: str) -> str:
    return f"![{alt}]({Path(os.path.relpath(path, report_dir)).as_posix()})"


def _recipe(run: Run) -> list[str]:
    cfg = OmegaConf.load(run.path / ".hydra" / "config.yaml")
    model = OmegaConf.to_container(cfg.model)
    arch = ", ".join(f"{k}={v}" for k, v in model.items() if k != "name")
    aug = (
        ", ".join(f"{k}={v}" for k, v in OmegaConf.to_container(cfg.augment).items() if v) or "none"
    )
    opt = OmegaConf.to_container(cfg.optimizer)
    return [
        f"- **Model** `{model.get('name')}`: {arch} ({run.get('params'):,} parameters).",
        f"- **Optimiser** {opt.pop('name')} ({', '.join(f'{k}={v}' for k, v in opt.items())}), "
        f"schedule {cfg.scheduler.name}, {cfg.trainer.max_epochs} epochs, batch {cfg.data.batch_size}, "
        f"label smoothing {cfg.loss.label_smoothing}, precision {run.get('precision')}.",
        f"- **Augmentation**: {aug}.",
        f"- **Data**: `{cfg.data.path}`"
        + (f", training on a subset of {cfg.data.limit}" if cfg.data.limit else ", all of Training")
        + ".",
    ]


def _ablation(runs: list[Run], sweep: Path, plots: list[Path], report_dir: Path) -> list[str]:
    """One sweep's tables, statistics and plots; runs are named relative to the sweep, so a
    baseline kept elsewhere shows where it lives (`../grid/...`)."""
    header, rows = table_rows(runs)
    shown = [[os.path.relpath(r[0], sweep), *r[1:]] for r in rows]
    lines = [
        f"Swept: {', '.join(f'`{a}`' for a in swept_axes(runs))}. Sorted by validation accuracy.",
        "",
        markdown_table(header, shown),
        "",
    ]
    if "seed" in swept_axes(runs):
        lines += ["Mean ± std over seeds:", "", markdown_table(*seed_table(runs)), ""]
    lines += [
        "Which differences are beyond noise (test accuracy in %, 95% bootstrap intervals over "
        "the test images; paired tests against the best configuration by validation accuracy, "
        "Holm-corrected):",
        "",
        *statistics_lines(*statistics(runs), markdown_table),
        "",
    ]
    return lines + [_img(p, report_dir, p.stem) for p in plots] + [""]


def _hardware_line(runs: list[Run]) -> str:
    """Where the runs trained (as their metrics.json records it) and where the report was made."""
    trained = Counter(r.get("hardware") for r in runs if r.status == "completed")
    recorded = [f"{name} ({n} runs)" for name, n in trained.most_common() if name is not None]
    if None in trained:
        recorded.append(f"not recorded ({trained[None]} runs from before runs recorded it)")
    here = f"{hardware()}, {platform.python_implementation()} {platform.python_version()}"
    return f"Hardware the runs trained on: {'; '.join(recorded) or 'none'}. Report made on {here}."


def build_report(
    sweeps: Path | list[Path],
    report_path: Path,
    notes: dict[str, str] | None = None,
    viz: Path | None = None,
) -> str:
    """The report's Markdown text (also writes the comparison outputs into each sweep).

    Several sweeps (a study's parts, e.g. docs/study/grid and docs/study/activation) get one
    ablation section each; the chosen model is the best run by validation accuracy over all.
    `notes` ({key: Markdown}, keys in NOTE_KEYS) replace the places for observations; `viz` is a
    fer-viz folder to show when the chosen run has no figures of its own (no checkpoint kept)."""
    notes = notes or {}

    def yours(key: str) -> list[str]:
        return [notes.get(key) or YOURS, ""]

    sweeps = [sweeps] if isinstance(sweeps, Path) else list(sweeps)
    parts = {sweep: find_runs([str(sweep)]) for sweep in sweeps}
    for sweep, found in parts.items():
        if not found:
            raise FileNotFoundError(f"{sweep}: no run directories")
    # a run shared by parts (a one-at-a-time part's baseline from the grid) counts once
    runs = list({run.path: run for found in parts.values() for run in found}.values())
    report_dir = report_path.parent
    best = best_run(runs)
    axes = sorted({a for found in parts.values() for a in swept_axes(found)} - {"seed"})
    done = sum(r.status == "completed" for r in runs)
    source = ", ".join(f"`{s}`" for s in sweeps)
    lines = [
        f"# Facial emotion recognition on FER2013: {', '.join(axes) or 'runs'}",
        "",
        f"_Generated by fer-report on {date.today().isoformat()} from {source} ({done} of {len(runs)} runs completed)._",
        "",
    ]
    if notes.get("summary"):
        lines += [notes["summary"], ""]
    lines += [
        "## 1. Setup",
        "",
        "FER2013: 48×48 grey faces, seven emotions (" + ", ".join(CLASSES) + "). Models train on "
        "**Training** (28,709 faces), are selected (best epoch, best run) on **PublicTest** "
        "(3,589), and the selected model is reported once on **PrivateTest** (3,589). No choice "
        "below was made on PrivateTest.",
        "",
        _hardware_line(runs),
        "",
    ]
    if best is not None:
        lines += (
            ["Recipe of the best run (the other runs differ in the swept axes only):", ""]
            + _recipe(best)
            + [""]
        )
    lines += ["## 2. Ablation", ""]
    for sweep, found in parts.items():
        if len(parts) > 1:
            lines += [f"### {sweep.name}", ""]
        lines += _ablation(found, sweep, write_outputs(found, sweep), report_dir)
    lines += yours("ablation")
    if best is not None:
        test, val = best.metrics["test"], best.metrics["val"]
        lines += [
            "## 3. The chosen model",
            "",
            f"Chosen by validation accuracy: `{best.path}` ({run_label(best, axes)}).",
            "",
            "| split | accuracy | macro precision | macro recall | macro F1 |",
            "|---|---|---|---|---|",
            f"| PublicTest (val, selection) | {val['acc']:.4f} | {val['precision']:.4f} | {val['recall']:.4f} | {val['f1_macro']:.4f} |",
            f"| PrivateTest (test, reported once) | {test['acc']:.4f} | {test['precision']:.4f} | {test['recall']:.4f} | {test['f1_macro']:.4f} |",
            "",
            "Recall per emotion on PrivateTest: "
            + ", ".join(f"{c} {test.get(f'recall_{c}', float('nan')):.2f}" for c in CLASSES)
            + ".",
            "",
        ]
        if not (best.path / "figures" / "confusion_matrix.png").is_file():
            drawn = _confusion_from_predictions(best, report_dir)
            if drawn is not None:
                lines += [_img(drawn, report_dir, "confusion_matrix")]
        for folder, names in (
            ("figures", ["confusion_matrix", "per_class", "predictions"]),
            ("eval/test", ["reliability", "misclassified"]),
        ):
            lines += [
                _img(best.path / folder / f"{n}.png", report_dir, n)
                for n in names
                if (best.path / folder / f"{n}.png").is_file()
            ]
        lines += ["", *yours("chosen model"), "## 4. What the network learned", ""]
        lines += _network(best, report_dir, viz)
        lines += ["", *yours("network")]
    lines += ["## 5. Reflection", "", *yours("reflection")]
    return "\n".join(lines)


VIZ_FIGURES = (
    "activations_per_emotion",
    "emotion_activation_maps",
    "class_mean_activations",
    "gradcam",
    "embedding_tsne",
)


def _network(best: Run, report_dir: Path, viz: Path | None) -> list[str]:
    """Filters and fer-viz figures: the chosen run's own, else those in `viz`."""
    own = best.path / "viz"
    folder = own if any((own / f"{n}.png").is_file() for n in VIZ_FIGURES) else viz
    lines = []
    filters = sorted((best.path / "figures").glob("filters_*.png"))[:3]
    if not filters and folder is not None:
        filters = sorted(folder.glob("filters_*.png"))[:3]
    figures = [folder / f"{n}.png" for n in VIZ_FIGURES] if folder is not None else []
    figures = [p for p in figures if p.is_file()]
    if folder is not None and folder != own and (filters or figures):
        lines += [f"Figures drawn by `fer-viz` in `{folder}` (the chosen run kept no weights).", ""]
    if filters:
        lines += ["Learned filters (first layers):", ""]
        lines += [_img(p, report_dir, p.stem) for p in filters] + [""]
    if figures:
        lines += ["Activations per emotion and the embedding (`fer-viz`):", ""]
        lines += [_img(p, report_dir, p.stem) for p in figures]
    else:
        lines += [
            f"_Run `fer-viz --model {best.path}` for activations per emotion, Grad-CAM and an "
            "embedding, then regenerate this report._"
        ]
    return lines


def run_label(run: Run, axes: list[str]) -> str:
    """`axis=value, ...` for every axis of the study, from the run's config where the run's own
    part did not sweep it (a GELU run of the activation part still says `optimizer=adamw`)."""
    values = run.axes | configured_axes(run, set(axes) - run.axes.keys())
    return ", ".join(f"{a}={values.get(a, '')}" for a in axes) or run.path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-report",
        description="Write a Markdown report of a sweep or of several (a study's parts): setup, ablation tables and plots, the "
        "chosen model's test metrics and figures, and places for your observations.",
        epilog="example: fer-report multirun/2026-11-28/10-45-59 -o REPORT.md",
    )
    parser.add_argument(
        "sweeps",
        type=Path,
        nargs="+",
        help="sweep directory (multirun/<date>/<time>), or a study's parts (docs/study/grid ...)",
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("REPORT.md"), help="report file (default REPORT.md)"
    )
    parser.add_argument(
        "--notes",
        type=Path,
        help="your prose, a Markdown file with sections '## summary', '## ablation', "
        "'## chosen model', '## network', '## reflection' (each optional) that fill the report's "
        "places for observations",
    )
    parser.add_argument(
        "--viz",
        type=Path,
        help="a fer-viz output folder to show when the chosen run has no figures of its own",
    )
    args = parser.parse_args(argv)
    try:
        if args.viz is not None and not args.viz.is_dir():
            raise FileNotFoundError(f"{args.viz}: no such fer-viz folder")
        notes = read_notes(args.notes) if args.notes else {}
        text = build_report(args.sweeps, args.out, notes, args.viz)
    except (FileNotFoundError, ValueError) as e:
        print(f"fer-report: error: {e}", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    prose = sum(len(v.split()) for v in notes.values())
    mine = f", {prose} of them from {args.notes}" if args.notes else ""
    print(f"wrote {args.out} ({len(text.split())} words{mine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
