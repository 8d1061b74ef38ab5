"""A Markdown report of a sweep (or of a study's parts), in the order an
assignment asks its questions, with the per-run tables in an appendix beside it.

Sections: setup and methodology; the study (one table of configurations and one of effects per
part, with seed-aware intervals and verdicts, fer.analysis.stats); filter sizes (a part that
sweeps `model.kernel_size`); ViT, pretrained CNN and self-supervised models (a part that sweeps
`model`); the final model's accuracy, precision and recall; inside the network; real videos;
reflections. Prose comes from a notes file (`--notes`, one `## <section>` each) or stays a
marked place to fill in, so the report can be regenerated as runs land. `--final DIR` names the
final model's folder: `eval/` (fer-eval), `viz/` (fer-viz), `video/<clip>/` (fer-video and
scripts/study/video_sheet.py, with `video/labels.csv`). Without it the chosen model is the best run
by validation accuracy. Every figure gets a one-line caption; figures are linked by relative
path, so the folder renders on GitHub. `prose_words` counts what a word limit counts.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from fer.analysis.compare import (
    markdown_table,
    seed_table,
    statistics,
    swept_axes,
    table_rows,
    write_outputs,
)
from fer.analysis.compare_plots import forest_figure
from fer.analysis.stats import AxisEffect, Comparison, correct_family, natural_key
from fer.fer2013 import CLASSES
from fer.io import atomic_path
from fer.run.predictions import read_predictions
from fer.run.records import Run, best_run, configured_axes, find_runs

YOURS = (
    "> ✍️ **Your observations:** _replace this line with what you see and why you think it happens._"
)
# The places for the author's prose, in report order; a notes file fills them by `## <key>`.
NOTE_KEYS = (
    "summary",
    "setup",
    "study",
    "filter sizes",
    "architectures",
    "final model",
    "network",
    "videos",
    "reflection",
)
APPENDIX = "RUNS.md"
# A part goes to its own section by the axis it sweeps; every other part is "the study".
SECTION_OF_AXIS = {"model.kernel_size": "filter sizes", "model": "architectures"}
CAPTION = "_Figure {n}. {text}_"
PART_FIGURES = {
    "accuracy_by_axis": "Each value's test accuracy minus the best value's (by validation), with "
    "95% intervals over seeds and images: red significant, grey not significant, light too few "
    "seeds.",
    "heatmap": "Validation accuracy of each cell, mean over seeds: read the interaction here.",
    "val_curves": "Validation accuracy per epoch of every run: still rising at epoch 8 means "
    "the budget, not the model, stopped it.",
}
VIZ_FIGURES = {
    "filters_01": "First-layer 3×3 filters: mostly edge and blob detectors.",
    "filters_02": "Second convolution's filters: 16 output channels (rows) by 16 input channels.",
    "emotion_activation_maps": "Mean activation per emotion minus the mean over emotions, per "
    "stage (red: stronger for that emotion), averaged over up to 200 faces each.",
    "gradcam_mean": "Mean Grad-CAM of the true class per emotion: where the last stage looks.",
}
# fer-viz's other figures: linked in one line, not shown (a report keeps to 12 figures)
VIZ_LINKS = {
    "class_mean_activations": "channels by class",
    "gradcam": "Grad-CAM per face",
    "embedding_tsne": "t-SNE",
}
MAX_FIGURES = 12  # a study report's budget: a reader looks at a dozen figures, not 25


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


def prose_words(markdown: str) -> int:
    """Words of prose, as a word limit counts them: every line outside tables, code blocks,
    headings, figures and their captions, HTML comments and links to figures."""
    count, fenced = 0, False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if fenced or not stripped or stripped.startswith(("|", "#", "![", "_Figure", "<!--")):
            continue
        count += len(stripped.lstrip(">-* ").split())
    return count


class _Figures:
    """Numbers figures and writes each with its caption."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir, self.n = report_dir, 0

    def __call__(self, path: Path, caption: str) -> list[str]:
        if not path.is_file():
            return []
        self.n += 1
        return [f"![{path.stem}]({self._link(path)})", CAPTION.format(n=self.n, text=caption), ""]

    def _link(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.report_dir)).as_posix()

    def links(self, named: dict[Path, str], lead: str = "More figures") -> list[str]:
        """One line linking the figures that exist (not counted as figures); [] if none do."""
        found = [f"[{text}]({self._link(path)})" for path, text in named.items() if path.is_file()]
        return [f"{lead}: {'; '.join(found)}.", ""] if found else []


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


def _recipe(run: Run) -> list[str]:
    cfg = OmegaConf.load(run.path / ".hydra" / "config.yaml")
    model = OmegaConf.to_container(cfg.model)
    skip = {"name", "init_from", "freeze", "backbone_lr_mult", "pretrained", "weights_path"}
    arch = ", ".join(f"{k}={v}" for k, v in model.items() if k not in skip and v is not None)
    aug = (
        ", ".join(f"{k}={v}" for k, v in OmegaConf.to_container(cfg.augment).items() if v) or "none"
    )
    opt = OmegaConf.to_container(cfg.optimizer)
    return [
        "| setting | value |",
        "|---|---|",
        f"| model | `{model.get('name')}` ({arch}); {run.get('params'):,} parameters |",
        f"| optimiser | {opt.pop('name')} ({', '.join(f'{k}={v}' for k, v in opt.items())}) |",
        f"| schedule | {cfg.scheduler.name}, {cfg.trainer.max_epochs} epochs, batch "
        f"{cfg.data.batch_size}, label smoothing {cfg.loss.label_smoothing} |",
        f"| precision | {run.get('precision')} |",
        f"| augmentation | {aug} |",
        f"| data | `{cfg.data.path}`"
        + (f", a subset of {cfg.data.limit}" if cfg.data.limit else ", all of Training")
        + " |",
    ]


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def configuration_table(comparisons: list[Comparison]) -> list[str]:
    """One row per configuration: seeds, val, test with its seed-aware interval, and against
    the best by validation the difference, its interval, Holm's p and the verdict."""
    if not comparisons:
        return []
    axes = list(comparisons[0].config.axes)
    header = [*axes, "seeds", "val %", "test %", "95% CI", "reference − this", "95% CI", "p_holm"]
    header.append("verdict")
    rows = [
        [
            *c.config.axes.values(),
            str(c.config.seeds),
            _pct(c.config.val_acc),
            _pct(c.accuracy),
            _interval(c.ci),
            c.reference if c.diff is None else f"{100 * c.diff:+.2f}",
            _interval(c.diff_ci),
            "" if c.p_holm is None else f"{c.p_holm:.2g}",
            c.verdict or "",
        ]
        for c in comparisons
    ]
    return [markdown_table(header, rows)]


def effects_table(effects: list[AxisEffect]) -> list[str]:
    """Main effects (averaged over the other axes) and simple effects (at one setting of
    another axis: the interactions), with the same intervals and tests."""
    if not effects:
        return []
    header = ["effect", "at", "difference (points)", "95% CI", "p_holm", "seeds", "verdict"]
    rows = [
        [
            f"{e.axis}: {e.best} − {e.value}",
            e.at or e.only or "averaged",
            f"{100 * e.diff:+.1f}",
            _interval(e.ci),
            "" if e.p_holm is None else f"{e.p_holm:.2g}",
            str(e.seeds),
            e.verdict,
        ]
        for e in effects
    ]
    return [markdown_table(header, rows)]


def _part(
    runs: list[Run],
    sweep: Path,
    figure: _Figures,
    missing_note: list[str],
    stats: tuple[list[Comparison], list[AxisEffect], int],
    forest: bool = False,
) -> list[str]:
    """One part: its configuration and effect tables and its figures (per-run tables go to the
    appendix; `forest`: the study's forest plot shows its differences, not a plot of its own)."""
    comparisons, effects, missing = stats  # Holm over the report's family
    own = copy.deepcopy(stats)  # the part's comparison.md: Holm over the part, as fer-compare
    correct_family([*own[0], *own[1]])
    write_outputs(runs, sweep, own)
    axes = [a for a in swept_axes(runs) if a != "seed"]
    lines = [f"Swept: {', '.join(f'`{a}`' for a in axes)}.", ""]
    lines += configuration_table(comparisons) + [""]
    if _shows_effects(runs, comparisons):
        lines += effects_table(effects) + [""]
    if missing:
        missing_note.append(sweep.name)
    for name, caption in PART_FIGURES.items():
        if name == "accuracy_by_axis" and forest:
            continue
        if name == "val_curves" and len(axes) < 2 and "model" not in axes:
            # one-axis parts: the table says it and the grid's curves show the budget; another
            # architecture family (the ViT) learns at its own pace, so its part keeps the curves
            continue
        lines += figure(sweep / f"{name}.png", f"{sweep.name}: {caption}")
    return lines


def _shows_effects(runs: list[Run], comparisons: list[Comparison]) -> bool:
    """Whether a part reports its axis effects: not where its configurations were each tested
    against a baseline along a single axis (then those rows are the tests)."""
    axes = [a for a in swept_axes(runs) if a != "seed"]
    tested_above = bool(comparisons) and comparisons[0].reference == "baseline"
    return len(axes) > 1 or not tested_above


def _hardware_line(runs: list[Run]) -> str:
    """Where the runs trained (as their metrics.json records it) and where the report was made."""
    trained = Counter(r.get("hardware") for r in runs if r.status == "completed")
    recorded = [
        f"{name} ({n} run{'s' * (n > 1)})" for name, n in trained.most_common() if name is not None
    ]
    if None in trained:
        recorded.append(f"not recorded ({trained[None]} runs from before runs recorded it)")
    return f"Hardware the runs trained on: {'; '.join(recorded) or 'none'}."


def provenance_table(parts: dict[Path, list[Run]]) -> list[str]:
    """Per part, where its completed runs come from (fer.run.provenance): blocks, commits,
    data hashes, hosts and precisions, each with its number of runs; runs trained before fer
    recorded provenance are counted as not recorded."""

    def tally(values: list[str]) -> str:
        return "; ".join(f"{v} ×{n}" for v, n in sorted(Counter(values).items())) or "-"

    lines = [
        "| part | blocks (seeds) | commit | data (sha256) | host | precision |",
        "|---|---|---|---|---|---|",
    ]
    for sweep, found in parts.items():
        done = [r for r in found if r.status == "completed"]
        recorded = [r.metrics.get("provenance") for r in done]
        known = [p for p in recorded if isinstance(p, dict)]
        absent = [] if len(known) == len(done) else [f"not recorded ×{len(done) - len(known)}"]
        seeds = sorted({r.axes.get("seed", "") for r in done} - {""}, key=natural_key)
        cells = [
            tally([str(p.get("commit"))[:10] for p in known]),
            tally([str((p.get("data") or {}).get("content_sha256"))[:12] for p in known]),
            tally([f"{p.get('cpu')}, boot {str(p.get('boot'))[:8]}" for p in known]),
            tally([str(p.get("precision")) for p in known]),
        ]
        cells = [c if c != "-" else "" for c in cells]
        cells = ["; ".join(filter(None, [c, *absent])) for c in cells]
        lines.append(f"| {sweep.name} | {', '.join(seeds)} | " + " | ".join(cells) + " |")
    return lines


def _final_metrics(final: Path) -> list[str]:
    """The final model's PrivateTest metrics from its fer-eval folder: overall and per class."""
    metrics = json.loads((final / "eval" / "metrics.json").read_text())
    per_class = metrics["per_class"]
    lines = [
        f"Model `{metrics['model']}`, {metrics['usage']} ({metrics['n']:,} faces, TTA "
        f"{metrics['tta']}).",
        "",
        "| accuracy | balanced accuracy | macro precision | macro recall | macro F1 | ECE |",
        "|---|---|---|---|---|---|",
        f"| {_pct(metrics['accuracy'])} | {_pct(metrics['balanced_accuracy'])} | "
        f"{_pct(metrics['precision_macro'])} | {_pct(metrics['recall_macro'])} | "
        f"{_pct(metrics['f1_macro'])} | {metrics['ece']:.3f} |",
        "",
        "| emotion | precision | recall | F1 | faces |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for name, v in per_class.items()
    ]
    confusions = ", ".join(
        f"{c['true']}→{c['predicted']} {c['count']}" for c in metrics.get("top_confusions", [])[:5]
    )
    if confusions:
        lines += ["", "| most frequent confusions (true→predicted, faces) |", "|---|"]
        lines += [f"| {confusions} |"]
    return lines + [""]


def _chosen_metrics(best: Run, axes: list[str], report_dir: Path, figure: _Figures) -> list[str]:
    test, val = best.metrics["test"], best.metrics["val"]
    lines = [
        f"Chosen by validation accuracy: `{best.path}` ({run_label(best, axes)}).",
        "",
        "| split | accuracy | macro precision | macro recall | macro F1 |",
        "|---|---|---|---|---|",
        f"| PublicTest (val, selection) | {val['acc']:.4f} | {val['precision']:.4f} | "
        f"{val['recall']:.4f} | {val['f1_macro']:.4f} |",
        f"| PrivateTest (test, reported once) | {test['acc']:.4f} | {test['precision']:.4f} | "
        f"{test['recall']:.4f} | {test['f1_macro']:.4f} |",
        "",
        "| emotion | " + " | ".join(CLASSES) + " |",
        "|---|" + "---|" * len(CLASSES),
        "| PrivateTest recall | "
        + " | ".join(f"{test.get(f'recall_{c}', float('nan')):.2f}" for c in CLASSES)
        + " |",
        "",
    ]
    confusion = best.path / "figures" / "confusion_matrix.png"
    if not confusion.is_file():
        confusion = _confusion_from_predictions(best, report_dir) or confusion
    lines += figure(confusion, "PrivateTest confusion matrix, counts and row-normalised.")
    for folder, name, caption in (
        ("figures", "per_class", "Precision, recall and F1 per emotion."),
        ("eval/test", "reliability", "Calibration: confidence against accuracy."),
    ):
        lines += figure(best.path / folder / f"{name}.png", caption)
    return lines


def _network(folder: Path | None, figure: _Figures, run: Run | None) -> list[str]:
    if folder is None or not any(folder.glob("*.png")):
        target = run.path if run is not None else "MODEL"
        return [
            f"_Run `fer-viz --model {target} --no-faces` for filters, activations per emotion "
            "and Grad-CAM, then regenerate this report with `--final`._",
            "",
        ]
    lines = []
    for name, caption in VIZ_FIGURES.items():
        lines += figure(folder / f"{name}.png", caption)
    return lines + figure.links({folder / f"{name}.png": t for name, t in VIZ_LINKS.items()})


def _videos(folder: Path, figure: _Figures) -> list[str]:
    """Per clip of fer-video's results: dominant emotion, frames right (raw and smoothed) against
    video/labels.csv where it names the clip, the timeline and the contact sheet."""
    clips = sorted(p for p in folder.iterdir() if (p / "summary.json").is_file())
    if not clips:
        return []
    labels: dict[str, str] = {}
    if (folder / "labels.csv").is_file():
        with (folder / "labels.csv").open() as f:
            labels = {Path(r["video"]).stem: r["label"] for r in csv.DictReader(f)}
    header = "| clip | label | frames | dominant | frames right (own) | frames right (smoothed) |"
    lines = [header, "|---|---|---|---|---|---|"]
    for clip in clips:
        summary = json.loads((clip / "summary.json").read_text())
        with (clip / "frames.csv").open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("label")]
        label = labels.get(clip.name, "")
        own = sum(r["label"] == label for r in rows)
        smoothed = sum(r.get("label_smoothed") == label for r in rows)
        right = (f"{own}/{len(rows)}", f"{smoothed}/{len(rows)}") if label else ("", "")
        lines.append(
            f"| {clip.name} | {label} | {summary['frames_sampled']} | "
            f"{summary['dominant_emotion']} | {right[0]} | {right[1]} |"
        )
    lines.append("")
    for clip in clips:
        lines += figure(
            clip / "timeline.png",
            f"{clip.name}: each emotion's probability over time (dots: each frame; lines: "
            "smoothed over 1 s).",
        )
    sheets = {clip / "sheet.png": clip.name for clip in clips}
    return lines + figure.links(sheets, "Contact sheets")


def write_appendix(parts: dict[Path, list[Run]], path: Path) -> None:
    """Every run of every part (the per-run tables), and mean ± std over seeds."""
    lines = ["# Appendix: every run", "", "Sorted by validation accuracy (PublicTest).", ""]
    for sweep, runs in parts.items():
        header, rows = table_rows(runs)
        shown = [[os.path.relpath(r[0], sweep), *r[1:]] for r in rows]
        lines += [f"## {sweep.name}", "", markdown_table(header, shown), ""]
        if "seed" in swept_axes(runs):
            lines += ["Mean ± std over seeds:", "", markdown_table(*seed_table(runs)), ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def build_report(
    sweeps: Path | list[Path],
    report_path: Path,
    notes: dict[str, str] | None = None,
    viz: Path | None = None,
    final: Path | None = None,
) -> str:
    """The report's Markdown text (also writes the comparison outputs into each sweep and the
    appendix of every run beside the report).

    Several sweeps (a study's parts) get one subsection each, in the section their axis answers;
    `notes` ({key: Markdown}, keys in NOTE_KEYS) fill the places for prose; `final` is the final
    model's folder (eval/, viz/, video/), else the chosen model is the best run by validation
    and `viz` a fer-viz folder to show for it."""
    notes = notes or {}

    def yours(key: str) -> list[str]:
        return [notes.get(key) or YOURS, ""]

    sweeps = [sweeps] if isinstance(sweeps, Path) else list(sweeps)
    parts = {sweep: find_runs([str(sweep)]) for sweep in sweeps}
    for sweep, found in parts.items():
        if not found:
            raise FileNotFoundError(f"{sweep}: no run directories")
    if final is not None and not (final / "eval" / "metrics.json").is_file():
        raise FileNotFoundError(f"{final}: no eval/metrics.json (run fer-eval --out {final}/eval)")
    # a run shared by parts (a one-at-a-time part's baseline from the grid) counts once
    runs = list({run.path: run for found in parts.values() for run in found}.values())
    report_dir = report_path.parent
    figure = _Figures(report_dir)
    best = best_run(runs)
    axes = sorted({a for found in parts.values() for a in swept_axes(found)} - {"seed"})
    done = sum(r.status == "completed" for r in runs)
    source = ", ".join(f"`{s}`" for s in sweeps)
    lines = [
        f"# Facial emotion recognition on FER2013: {', '.join(axes) or 'runs'}",
        "",
        f"_Generated by fer-report from {source} ({done} of "
        f"{len(runs)} runs completed); every run: [{APPENDIX}]({APPENDIX})._",
        "",
    ]
    if notes.get("summary"):
        lines += [notes["summary"], ""]
    lines += ["## 1. Setup and methodology", ""]
    lines += [
        notes.get("setup")
        or "FER2013: 48×48 grey faces, seven emotions. Models train on Training (28,709 "
        "faces), are selected on PublicTest (3,589), and the selected model is reported on "
        "PrivateTest (3,589).",
        "",
        _hardware_line(runs),
        "",
        *provenance_table(parts),
        "",
    ]
    if best is not None:
        lines += [
            f"Recipe of the best run by validation, `{best.path.name}` (the others differ in "
            "their swept settings, each with what its config group sets):",
            "",
        ]
        lines += _recipe(best) + [""]

    # One Holm family over every test of every part: the report's claims are read together.
    part_stats = {sweep: statistics(found, correct=False) for sweep, found in parts.items()}
    family = correct_family([r for c, e, _ in part_stats.values() for r in (*c, *e)])
    lines += [f"Holm family: {family} tests, all parts.", ""]
    forest = len(parts) > 1  # one plot of every comparison instead of one per part
    if forest:
        shown = {
            sweep.name: (c, e if _shows_effects(parts[sweep], c) else [])
            for sweep, (c, e, _) in part_stats.items()
        }
        forest_path = forest_figure(shown, report_dir / "forest.png")
        forest_lines = (
            []
            if forest_path is None
            else figure(
                forest_path,
                f"Every comparison of the study ({family} tests): the configuration's test accuracy "
                "minus its reference's, 95% interval over blocks and images, coloured by verdict "
                "after Holm over all of them.",
            )
        )

    sections: dict[str, list[Path]] = {"study": [], "filter sizes": [], "architectures": []}
    for sweep, found in parts.items():
        part_axes = [a for a in swept_axes(found) if a != "seed"]
        key = next((SECTION_OF_AXIS[a] for a in part_axes if a in SECTION_OF_AXIS), "study")
        sections[key].append(sweep)
    missing: list[str] = []
    titles = {
        "study": "## 2. The study: architecture and training choices",
        "filter sizes": "## 3. Filter sizes",
        "architectures": "## 4. ViT, pretrained CNN and self-supervised representation",
    }
    for key, title in titles.items():
        lines += [title, ""]
        if key == "study" and forest:
            lines += forest_lines
        for sweep in sections[key]:
            if len(parts) > 1:
                lines += [f"### {sweep.name}", ""]
            lines += _part(parts[sweep], sweep, figure, missing, part_stats[sweep], forest)
        lines += yours(key)
    if missing:
        lines += [
            f"Runs of {', '.join(missing)} kept no predictions/test.npz (trained before fer "
            "kept them): no statistics for them.",
            "",
        ]

    lines += ["## 5. The final model: accuracy, precision and recall", ""]
    if final is not None:
        lines += _final_metrics(final)
        lines += figure(
            final / "eval" / "confusion_matrix.png",
            "PrivateTest confusion matrix of the final model, counts and row-normalised.",
        )
        lines += figure.links({final / "eval" / "per_class.png": "per-class F1"})
    elif best is not None:
        lines += _chosen_metrics(best, axes, report_dir, figure)
    lines += yours("final model")

    lines += ["## 6. Inside the network", ""]
    if final is not None:
        lines += _network(final / "viz", figure, None)
    else:
        own = best.path / "viz" if best is not None else None
        folder = own if own is not None and any(own.glob("*.png")) else viz
        lines += _network(folder, figure, best)
    lines += yours("network")

    lines += ["## 7. Real videos", ""]
    if final is not None and (final / "video").is_dir():
        lines += _videos(final / "video", figure)
    lines += yours("videos")
    lines += ["## 8. Reflections and lessons learnt", "", *yours("reflection")]
    write_appendix(parts, report_dir / APPENDIX)
    return "\n".join(lines)


def run_label(run: Run, axes: list[str]) -> str:
    """`axis=value, ...` for every axis of the study, from the run's config where the run's own
    part did not sweep it (a GELU run of the activation part still says `optimizer=adamw`)."""
    values = run.axes | configured_axes(run, set(axes) - run.axes.keys())
    return ", ".join(f"{a}={values.get(a, '')}" for a in axes) or run.path.name
