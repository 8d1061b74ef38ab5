"""One table of runs (a sweep directory, run directories or a glob), best by val acc.

Each run directory holds `.hydra/overrides.yaml` and `metrics.json`; failed, interrupted and
unfinished runs are listed with their status rather than dropped. The best run is chosen by
validation accuracy, never by test accuracy.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer.analysis.compare_plots import write_plots
from fer.analysis.stats import (
    INDEPENDENT,
    AxisEffect,
    Comparison,
    Configuration,
    axis_effects,
    compare,
    correct_family,
    natural_key,
)
from fer.io import atomic_path
from fer.run.predictions import read_predictions
from fer.run.records import Run

# statistics(): comparisons with the best configuration, main effects, configurations left out
Statistics = tuple[list[Comparison], list[AxisEffect], int]

STATISTICS_METHOD = (
    "95% intervals from a two-level bootstrap over blocks (seeds) and test images, images-only "
    "beside them; p: paired t-test over blocks (Welch's over runs where the seeds differ) "
    "against the baseline (a configuration whose swept values are all `default`), Holm-corrected "
    "over every test of this call in p_holm; without a baseline the comparisons with the best "
    "by val are descriptive; fewer than 3 blocks: too few seeds"
)
BASELINE_VALUE = "default"  # a configuration whose swept values are all this is the baseline


def swept_axes(runs: list[Run]) -> list[str]:
    """Override keys whose value differs between runs (the axes of the sweep). A key inside a
    swept config group (`model.depth` when `model` is cnn in some runs and vit in others) is an
    axis only where it varies within one of the group's options: the ViT's own depth is part of
    choosing the ViT, not a second axis."""
    keys = sorted({k for r in runs for k in r.axes})
    varying = [k for k in keys if len({r.axes.get(k) for r in runs}) > 1]
    return [k for k in varying if not _follows_group(k, varying, runs)] or keys


def _follows_group(key: str, varying: list[str], runs: list[Run]) -> bool:
    """Whether `key` takes one value per option of a swept group that contains it."""
    parts = key.split(".")
    for group in (".".join(parts[:i]) for i in range(1, len(parts))):
        if group in varying:
            values: dict[str | None, set[str | None]] = {}
            for r in runs:
                values.setdefault(r.axes.get(group), set()).add(r.axes.get(key))
            if all(len(v) == 1 for v in values.values()):
                return True
    return False


def cross_dataset(run: Run) -> dict[str, float]:
    """Accuracy per other-dataset evaluation the run has (fer-eval --data OTHER.h5):
    {'<dataset>-<split>_acc': accuracy}, read from RUN_DIR/eval/*/metrics.json."""
    out = {}
    for path in sorted(run.path.glob("eval/*/metrics.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if report.get("dataset", "fer2013") != "fer2013" and report.get("tta") == "none":
            out[f"{report['dataset']}-{report['split']}_acc"] = report["accuracy"]
    return out


def table_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Header and rows, completed runs first by val accuracy, then the others; a column per
    other dataset that some run was evaluated on."""
    axes = swept_axes(runs)
    others = {r.path: cross_dataset(r) for r in runs}
    extra = sorted({k for values in others.values() for k in values})
    header = [
        "run",
        *axes,
        "status",
        "val_acc",
        "val_f1",
        "test_acc",
        "test_f1",
        "params",
        "epochs",
        "wall_s",
        *extra,
    ]
    ordered = sorted(runs, key=lambda r: (r.status != "completed", -(r.get("val", "acc") or 0)))
    rows = []
    for r in ordered:
        rows.append(
            [
                str(r.path),
                *(r.axes.get(a, "") for a in axes),
                r.status,
                _fmt(r.get("val", "acc")),
                _fmt(r.get("val", "f1_macro")),
                _fmt(r.get("test", "acc")),
                _fmt(r.get("test", "f1_macro")),
                str(r.get("params") or ""),
                str(r.get("epochs") or ""),
                str(r.get("wall_time_s") or ""),
                *(_fmt(others[r.path].get(k)) for k in extra),
            ]
        )
    return header, rows


def seed_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """One row per configuration (all swept axes but `seed`): mean ± std over its seeds."""
    axes = [a for a in swept_axes(runs) if a != "seed"]
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        if r.status == "completed":
            groups.setdefault(tuple(r.axes.get(a, "") for a in axes), []).append(r)
    header = [*axes, "seeds", "val_acc", "test_acc", "val_f1"]

    def stat(group: list[Run], *keys: str) -> str:
        values = [r.get(*keys) for r in group]
        return f"{np.mean(values):.4f} ± {np.std(values):.4f}"

    rows = [
        [
            *key,
            str(len(g)),
            stat(g, "val", "acc"),
            stat(g, "test", "acc"),
            stat(g, "val", "f1_macro"),
        ]
        for key, g in sorted(
            groups.items(), key=lambda kv: -np.mean([r.get("val", "acc") for r in kv[1]])
        )
    ]
    return header, rows


def configuration_runs(runs: list[Run]) -> dict[tuple[str, ...], list[Run]]:
    """Completed runs grouped by the values of their swept axes, seed aside."""
    axes = [a for a in swept_axes(runs) if a != "seed"]
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        if r.status == "completed":
            groups.setdefault(tuple(r.axes.get(a, "") for a in axes), []).append(r)
    return groups


def configurations(runs: list[Run]) -> list[Configuration]:
    """Completed runs grouped by their swept axes (seed aside), best validation first."""
    axes = [a for a in swept_axes(runs) if a != "seed"]
    groups = configuration_runs(runs)
    configs = [
        Configuration(
            dict(zip(axes, key)),
            per_image_correctness(group),
            float(np.mean([r.get("val", "acc") for r in group])),
            tuple(r.axes.get("seed", str(k)) for k, r in enumerate(group)),
        )
        for key, group in groups.items()
    ]
    return sorted(configs, key=lambda c: -c.val_acc)


def per_image_correctness(group: list[Run]) -> np.ndarray | None:
    """(seeds, images) correctness on test, in test-index order; None if a run has no
    predictions (runs from before they were kept) or the runs saw different images."""
    rows, index = [], None
    for run in group:
        predictions = read_predictions(run.path, "test")
        if predictions is None:
            return None
        order = np.argsort(predictions["index"])
        if index is None:
            index = predictions["index"][order]
        elif not np.array_equal(index, predictions["index"][order]):
            return None
        rows.append(predictions["probs"].argmax(1)[order] == predictions["labels"][order])
    return np.array(rows)


def baseline_of(configs: list[Configuration]) -> dict[str, str] | None:
    """The declared baseline: the configuration whose swept values are all `default`."""
    for c in configs:
        if c.axes and all(v == BASELINE_VALUE for v in c.axes.values()):
            return dict(c.axes)
    return None


def statistics(runs: list[Run], correct: bool = True) -> Statistics:
    """Comparisons with the baseline (or, descriptively, the best configuration), main and
    simple effects of the axes the baseline does not fix, and the number of configurations
    left out for want of predictions. `correct`: Holm over every test made here as one family
    (a report passes False and corrects over all its parts)."""
    configs = configurations(runs)
    missing = sum(1 for c in configs if c.correct is None)
    baseline = baseline_of(configs)
    comparisons = compare(configs, baseline)
    effects = axis_effects(configs, skip=list(baseline or ()))
    if correct:
        correct_family([*comparisons, *effects])
    return comparisons, effects, missing


def stats_table(comparisons: list[Comparison]) -> tuple[list[str], list[list[str]]]:
    """One row per configuration: test accuracy with its seed-aware 95% interval (and the
    images-only one), and against the reference (baseline, or best by val) the difference, its
    intervals, the paired p over
    seeds, Holm's p and the verdict."""
    axes = list(comparisons[0].config.axes) if comparisons else []
    header = [
        *axes,
        "seeds",
        "test_acc",
        "95% CI seeds+images",
        "95% CI images only",
        "diff_vs_reference",
        "diff CI blocks+images",
        "diff CI images only",
        "p (paired t, blocks)",
        "p_holm",
        "verdict",
    ]
    rows = []
    for c in comparisons:
        rows.append(
            [
                *c.config.axes.values(),
                str(c.config.seeds),
                f"{100 * c.accuracy:.2f}",
                _interval(c.ci),
                _interval(c.ci_images),
                _reference(c),
                _interval(c.diff_ci),
                _interval(c.diff_ci_images),
                "" if c.p is None else f"{c.p:.2g}",
                "" if c.p_holm is None else f"{c.p_holm:.2g}",
                c.verdict or "",
            ]
        )
    return header, rows


def _reference(c: Comparison) -> str:
    """The difference column: the reference named on its own row, else reference - this."""
    if c.diff is None:
        return c.reference
    return f"{100 * c.diff:+.2f}" + ("" if c.design != INDEPENDENT else " (unpaired)")


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def statistics_lines(
    comparisons: list[Comparison],
    effects: list[AxisEffect],
    missing: int,
    table: Callable[[list[str], list[list[str]]], str],
) -> list[str]:
    """The statistics section: the configuration table (drawn by `table`), one sentence per
    axis value, and what was left out."""
    lines = []
    if comparisons:
        tested = sum(r.p is not None for r in (*comparisons, *effects))
        designs = sorted({r.design for r in (*comparisons, *effects) if r.design})
        lines += [table(*stats_table(comparisons)), ""]
        lines += [e.sentence() for e in effects]
        lines.append(
            f"analysis: {', '.join(designs) or 'none'}; reference: {comparisons[0].reference} "
            f"({comparisons[0].config.name}); Holm family: the {tested} tests above"
        )
    if missing:
        lines.append(
            f"{missing} configuration(s) have runs without predictions/test.npz (trained before "
            "fer kept per-image predictions): no statistics for them."
        )
    if not comparisons and not missing:
        lines.append("No completed runs to compare.")
    return lines


def wandb_summaries(runs: list[Run], comparisons: list[Comparison]) -> dict[Path, dict]:
    """What fer-compare adds to each run's W&B summary: its configuration's test accuracy with
    the seed-aware 95% CI and, against the best configuration, the difference, its CIs, Holm's
    p and the verdict."""
    groups = configuration_runs(runs)
    out: dict[Path, dict] = {}
    for c in comparisons:
        values = {
            "compare/test_acc": c.accuracy,
            "compare/test_acc_ci_low": c.ci[0],
            "compare/test_acc_ci_high": c.ci[1],
            "compare/seeds": c.config.seeds,
        }
        if c.diff is not None:
            values |= {
                "compare/diff_vs_reference": c.diff,
                "compare/diff_ci_low": c.diff_ci[0],
                "compare/diff_ci_high": c.diff_ci[1],
                "compare/diff_ci_images_low": c.diff_ci_images[0],
                "compare/diff_ci_images_high": c.diff_ci_images[1],
                "compare/p_holm": c.p_holm,
                "compare/verdict": c.verdict,
                "compare/significant": bool(c.significant),
            }
        for run in groups.get(tuple(c.config.axes.values()), []):
            out[run.path] = values
    return out


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def write_outputs(runs: list[Run], out: Path, stats: Statistics | None = None) -> list[Path]:
    """comparison.csv, comparison.md and the plots into `out`; returns the plots.

    `stats`: `statistics(runs)` where the caller has it already (the bootstraps take seconds)."""

    header, rows = table_rows(runs)
    with atomic_path(out / "comparison.csv") as tmp, tmp.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    shown = [[Path(r[0]).name, *r[1:]] for r in rows]
    markdown = [
        "# Run comparison",
        "",
        "Sorted by validation accuracy (PublicTest); test is PrivateTest.",
        "",
        markdown_table(header, shown),
    ]
    if "seed" in swept_axes(runs):
        markdown += ["", "## Mean ± std over seeds", "", markdown_table(*seed_table(runs))]
    markdown += ["", "## Provenance", "", *(f"- {line}" for line in provenance_lines(runs)[0])]
    comparisons, effects, missing = stats or statistics(runs)
    markdown += ["", f"## Statistics (test = PrivateTest; {STATISTICS_METHOD})", ""]
    markdown += statistics_lines(comparisons, effects, missing, markdown_table)
    plots = write_plots(runs, swept_axes(runs), out, effects)
    markdown += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    with atomic_path(out / "comparison.md") as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    return plots


def provenance_lines(runs: list[Run]) -> tuple[list[str], bool]:
    """Where the completed runs come from (fer.run.provenance), as lines: the blocks (seeds),
    commits, data hashes, hosts, precisions and library versions, with a warning where runs or
    a block's runs differ, and the runs that record none. Also whether the data differs
    (different content hashes: the comparison is not of like with like)."""
    done = [r for r in runs if r.status == "completed"]
    recorded = [r for r in done if isinstance(r.metrics.get("provenance"), dict)]

    def facts(run: Run) -> dict[str, str]:
        p = run.metrics["provenance"]
        data = p.get("data") or {}
        versions = p.get("versions") or {}
        return {
            "commit": f"{str(p.get('commit'))[:10]}{' (dirty)' if p.get('dirty') else ''}",
            "data": str(data.get("content_sha256", "unknown"))[:12],
            "host": f"{p.get('host')} ({p.get('cpu')}, {p.get('threads')} threads)",
            "boot": str(p.get("boot")),
            "precision": str(p.get("precision")),
            "versions": ", ".join(f"{k} {versions.get(k)}" for k in ("torch", "lightning")),
        }

    lines = []
    seeds = sorted({r.axes.get("seed", "") for r in done} - {""}, key=natural_key)
    if seeds:
        lines.append(f"blocks (seeds): {', '.join(seeds)}")
    table = {r.path: facts(r) for r in recorded}
    for key in ("commit", "data", "host", "precision", "versions"):
        counts: dict[str, int] = {}
        for f in table.values():
            counts[f[key]] = counts.get(f[key], 0) + 1
        if counts:
            said = "; ".join(f"{v} ({n} runs)" for v, n in sorted(counts.items()))
            flag = "  <- warning: the runs differ" if len(counts) > 1 and key != "data" else ""
            lines.append(f"{key}: {said}{flag}")
    for seed in seeds:
        block = [table[r.path] for r in recorded if r.axes.get("seed") == seed]
        for key in ("commit", "host", "boot"):
            if len({f[key] for f in block}) > 1:
                lines.append(f"warning: block {seed} spans more than one {key}")
    if len(recorded) < len(done):
        lines.append(
            f"warning: {len(done) - len(recorded)} of {len(done)} completed runs record no "
            "provenance (no commit, data hash or versions: trained before fer recorded them)"
        )
    mixed = len({f["data"] for f in table.values()}) > 1
    return lines, mixed


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
