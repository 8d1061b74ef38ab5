"""fer-compare's plots: accuracy per axis value, a two-axis heatmap, accuracy vs parameters,
and the validation curves of all runs."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from fer.analysis.stats import NOT_SIGNIFICANT, SIGNIFICANT, TOO_FEW, AxisEffect, Comparison
from fer.run.naming import run_name
from fer.run.records import Run

VERDICT_COLOURS = {SIGNIFICANT: "tab:red", NOT_SIGNIFICANT: "tab:grey", TOO_FEW: "silver"}


def val_curve(run: Run) -> tuple[list[int], list[float]]:
    """(epochs, val acc) from the run's csv/metrics.csv (the fit's validation epochs)."""
    path = run.path / "csv" / "metrics.csv"
    if not path.is_file():
        return [], []
    epochs, accs = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            if row.get("val/acc") and row.get("val/acc_best"):
                epochs.append(int(float(row["epoch"])) + 1)
                accs.append(float(row["val/acc"]))
    return epochs, accs


def by_value(runs: list[Run], axis: str) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.axes.get(axis, "")].append(run)
    return dict(sorted(groups.items(), key=lambda kv: _sort_key(kv[0])))


def write_plots(
    runs: list[Run], axes: list[str], out: Path, effects: list[AxisEffect] | None = None
) -> list[Path]:
    """Every plot that the sweep supports; returns their paths. With `effects` (runs that kept
    their predictions), accuracy_by_axis.png draws each axis's paired differences and their
    95% intervals instead of means ± std."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save  # matplotlib: imported only when drawing

    done = [r for r in runs if r.status == "completed"]
    if not done:
        return []
    paths = []
    factors = [a for a in axes if a != "seed"]
    if effects:
        paths.append(effects_figure(effects, out / "accuracy_by_axis.png"))
    elif factors:
        fig, axs = plt.subplots(1, len(factors), figsize=(4.2 * len(factors), 3.6), squeeze=False)
        for ax, axis in zip(axs[0], factors):
            groups = by_value(done, axis)
            x = np.arange(len(groups))
            for offset, (split, label) in (
                (-0.15, ("val", "val (PublicTest)")),
                (0.15, ("test", "test (PrivateTest)")),
            ):
                values = [[r.get(split, "acc") for r in g] for g in groups.values()]
                ax.errorbar(
                    x + offset,
                    [np.mean(v) for v in values],
                    [np.std(v) for v in values],
                    fmt="o",
                    capsize=4,
                    label=label,
                )
            ax.set_xticks(x, list(groups), rotation=30 if len(groups) > 4 else 0)
            ax.set(
                xlabel=axis,
                ylabel="accuracy",
                title=f"accuracy by {axis}\n(mean ± std over other axes and seeds)",
            )
            ax.title.set_fontsize(9)
        axs[0][0].legend(fontsize=8)
        paths.append(save(fig, out / "accuracy_by_axis.png"))
    if len(factors) == 2:
        rows, cols = by_value(done, factors[0]), by_value(done, factors[1])
        grid = np.full((len(rows), len(cols)), np.nan)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                cell = [
                    run.get("val", "acc")
                    for run in done
                    if run.axes.get(factors[0]) == r and run.axes.get(factors[1]) == c
                ]
                if cell:
                    grid[i, j] = np.mean(cell)
        fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2.5, 1.0 * len(rows) + 1.8))
        image = ax.imshow(grid, cmap="viridis")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if not np.isnan(grid[i, j]):
                    ax.text(
                        j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="w", fontsize=9
                    )
        ax.set(
            xticks=range(len(cols)),
            yticks=range(len(rows)),
            xlabel=factors[1],
            ylabel=factors[0],
            title="val accuracy (mean over seeds)",
        )
        ax.set_xticklabels(list(cols))
        ax.set_yticklabels(list(rows))
        fig.colorbar(image, ax=ax)
        paths.append(save(fig, out / "heatmap.png"))
    if len({r.get("params") for r in done}) > 1:  # one x value is no plot
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter([r.get("params") for r in done], [r.get("val", "acc") for r in done])
        for r in done:
            ax.annotate(r.path.name, (r.get("params"), r.get("val", "acc")), fontsize=7)
        ax.set(
            xscale="log", xlabel="parameters", ylabel="val accuracy", title="accuracy vs parameters"
        )
        paths.append(save(fig, out / "acc_vs_params.png"))
    else:
        (out / "acc_vs_params.png").unlink(missing_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in done:
        epochs, accs = val_curve(r)
        name = run_name([f"{k}={r.axes[k]}" for k in axes if k in r.axes])
        if epochs:
            ax.plot(
                epochs,
                accs,
                marker="." if len(epochs) < 15 else None,
                # a directory named by its overrides says no more than the axes do
                label=name if "=" in r.path.name else f"{r.path.name}: {name}",
            )
    ax.set(xlabel="epoch", ylabel="val accuracy", title="validation accuracy per epoch")
    if len(done) <= 16:
        ax.legend(fontsize=7)
    paths.append(save(fig, out / "val_curves.png"))
    return paths


def effects_figure(effects: list[AxisEffect], path: Path) -> Path:
    """Per axis, each value's test accuracy minus the axis's best value (by val), in points,
    with its seed-aware 95% interval (main effects; the simple effects are in the table).
    Red: significant; grey: not significant; light: too few seeds to call."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save  # matplotlib: imported only when drawing

    effects = [e for e in effects if not e.at]
    axes = list(dict.fromkeys(e.axis for e in effects))
    fig, axs = plt.subplots(1, len(axes), figsize=(4.2 * len(axes), 3.6), squeeze=False)
    for ax, axis in zip(axs[0], axes):
        rows = [e for e in effects if e.axis == axis]
        labels = [f"{rows[0].best}\n(best by val)"] + [e.value for e in rows]
        diffs = [0.0] + [-100 * e.diff for e in rows]
        low = [0.0] + [-100 * e.diff - (-100 * e.ci[1]) for e in rows]
        high = [0.0] + [-100 * e.ci[0] - (-100 * e.diff) for e in rows]
        colours = ["black"] + [VERDICT_COLOURS[e.verdict] for e in rows]
        for k, (d, lo, hi, c) in enumerate(zip(diffs, low, high, colours)):
            ax.errorbar(k, d, [[lo], [hi]], fmt="o", capsize=4, color=c)
        ax.axhline(0, color="black", lw=0.8, ls=":")
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set(
            xlabel=axis,
            ylabel="test accuracy vs best value (points)",
            title=f"{axis}: difference, 95% over seeds and images\n"
            "(red: significant, grey: noise, light: too few seeds)",
        )
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return save(fig, path)


def forest_figure(
    parts: dict[str, tuple[list[Comparison], list[AxisEffect]]], path: Path
) -> Path | None:
    """Every comparison of a study in one plot, part by part: the configuration's test accuracy
    minus its reference's (the part's baseline, or an axis's best value by val), in points, with
    its 95% interval over blocks and images; coloured by verdict after the correction. None
    (nothing written) where no part has a test."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save  # matplotlib: imported only when drawing

    rows = []  # (label, this - reference, (low, high), verdict), all in points
    for part, (comparisons, effects) in parts.items():
        for c in comparisons:
            if c.verdict not in (None, "descriptive") and c.diff_ci is not None:  # tests only
                lo, hi = (-100 * v for v in reversed(c.diff_ci))
                rows.append(
                    (f"{part}: {c.config.name} − {c.reference}", -100 * c.diff, (lo, hi), c.verdict)
                )
        for e in effects:
            where = f" at {e.at}" if e.at else f" ({e.only})" if e.only else ""
            lo, hi = (-100 * v for v in reversed(e.ci))
            rows.append(
                (
                    f"{part}: {e.axis}={e.value} − {e.best}{where}",
                    -100 * e.diff,
                    (lo, hi),
                    e.verdict,
                )
            )
    if not rows:  # no part has a test (too few predictions kept): nothing to draw
        return None
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.4))
    for k, (_, d, (lo, hi), verdict) in enumerate(rows):
        colour = VERDICT_COLOURS[verdict]
        ax.errorbar(d, k, xerr=[[d - lo], [hi - d]], fmt="o", ms=4, capsize=3, color=colour)
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy, this − reference (points), 95% interval over blocks and images")
    ax.set_title(
        "Every comparison of the study (red: significant after Holm over all of them; grey: "
        "not significant after it, light: too few seeds)",
        fontsize=8,
    )
    fig.tight_layout()
    return save(fig, path)


def _sort_key(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)
