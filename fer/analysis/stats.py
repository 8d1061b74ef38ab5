"""How sure a comparison of runs is: bootstrap intervals, paired tests and main effects.

Everything here works on per-image correctness (from the runs' `predictions/test.npz`), so two
configurations are compared on the same test images (paired). A configuration is the set of
runs that share every swept override except `seed`; its accuracy on an image is the share of
its seeds that got the image right, so each bootstrap resample of images averages the seeds.

- per configuration: mean test accuracy with a 95% bootstrap interval over test images;
- against the best configuration by validation accuracy: the paired difference with a 95%
  paired-bootstrap interval, a two-sided paired permutation p-value (for single runs this is
  McNemar's exact test on the discordant images), Holm-corrected over the comparisons;
- per swept axis: each value's difference from the axis's best value (by validation accuracy),
  averaged over the other axes and seeds, with a paired-bootstrap interval.

scipy's `bootstrap`, `binomtest` and `permutation_test` do the resampling and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


@dataclass
class Configuration:
    axes: dict[str, str]  # swept axis -> value, seed left out
    correct: np.ndarray | None  # (seeds, images) bool, columns in test-index order; None: no data
    val_acc: float  # mean over seeds

    @property
    def name(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.axes.items()) or "all runs"

    @property
    def per_image(self) -> np.ndarray:
        """The share of this configuration's seeds that got each test image right."""
        return self.correct.mean(axis=0)


@dataclass
class Comparison:
    config: Configuration
    accuracy: float
    ci: tuple[float, float]
    diff: float | None = None  # best minus this, in accuracy (0..1)
    diff_ci: tuple[float, float] | None = None
    p: float | None = None
    p_holm: float | None = None

    @property
    def significant(self) -> bool | None:
        return None if self.p_holm is None else self.p_holm < 1 - LEVEL


@dataclass
class AxisEffect:
    axis: str
    best: str  # the value with the best validation accuracy
    value: str
    diff: float  # best minus value, test accuracy
    ci: tuple[float, float]
    only: str = ""  # the other axes' settings compared, when the grid is not complete: "depth=2"

    def sentence(self) -> str:
        lo, hi = (100 * v for v in self.ci)
        points = 100 * self.diff
        if lo > 0 or hi < 0:
            winner, loser = (self.best, self.value) if points > 0 else (self.value, self.best)
            text = (
                f"{self.axis}: {winner} beats {loser} by {abs(points):.1f} points "
                f"[{lo:.1f}, {hi:.1f}]"
            )
        else:
            text = (
                f"{self.axis}: {self.best} vs {self.value} differs by {points:.1f} points "
                f"[{lo:.1f}, {hi:.1f}], within noise"
            )
        return text + (f" (at {self.only} only)" if self.only else "")


def compare(configs: list[Configuration]) -> list[Comparison]:
    """Each configuration with predictions: its interval, and its paired comparison with the
    best one by validation accuracy (Holm-corrected p-values over the comparisons)."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    best = usable[0]
    results = []
    for config in usable:
        x = config.per_image
        ci = _bootstrap((x,), _mean)
        result = Comparison(config, float(x.mean()), ci)
        if config is not best:
            y = best.per_image
            result.diff = float(y.mean() - x.mean())
            result.diff_ci = _bootstrap((y, x), _mean_difference, paired=True)
            result.p = paired_p_value(best.correct, config.correct)
        results.append(result)
    compared = [r for r in results if r.p is not None]
    for r, p in zip(compared, holm([r.p for r in compared])):
        r.p_holm = p
    return results


def paired_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value for 'a and b are equally accurate' on the same images.

    a, b: (seeds, images) correctness. Single runs: McNemar's exact test (a binomial test on
    the images exactly one of them got right). Several seeds: a paired permutation test that
    swaps the two configurations' per-image accuracies at random."""
    if len(a) == 1 and len(b) == 1:
        only_a = int((a[0] & ~b[0]).sum())
        only_b = int((~a[0] & b[0]).sum())
        if only_a + only_b == 0:
            return 1.0
        return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    result = stats.permutation_test(
        (a.mean(0), b.mean(0)),
        _mean_difference,
        permutation_type="samples",
        n_resamples=RESAMPLES,
        alternative="two-sided",
        random_state=SEED,
        vectorized=True,
    )
    return float(result.pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error over the comparisons, in input order."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _cell(config: Configuration, axes: list[str]) -> tuple[str, ...]:
    return tuple(config.axes[a] for a in axes)


def axis_effects(configs: list[Configuration]) -> list[AxisEffect]:
    """Per swept axis, each value against the axis's best value (by validation accuracy), both
    averaged over the other axes and the seeds; paired over test images. In an incomplete grid
    only the other axes' settings that every value has are used, and the effect says which."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    effects = []
    for axis in usable[0].axes:
        values = sorted({c.axes[axis] for c in usable}, key=_natural)
        if len(values) < 2:
            continue
        # Only the settings of the other axes that every value was run with: in a grid still
        # being filled, averaging over what exists would mix in the other axes' effects.
        others = [a for a in usable[0].axes if a != axis]
        common = set.intersection(
            *({_cell(c, others) for c in usable if c.axes[axis] == v} for v in values)
        )
        if not common:
            continue
        complete = len(common) == len({_cell(c, others) for c in usable})
        only = (
            ""
            if complete
            else "; ".join(
                ", ".join(f"{a}={x}" for a, x in zip(others, key)) for key in sorted(common)
            )
        )
        by_value = {
            v: [c for c in usable if c.axes[axis] == v and _cell(c, others) in common]
            for v in values
        }
        val = {v: np.mean([c.val_acc for c in cs]) for v, cs in by_value.items()}
        per_image = {v: np.mean([c.per_image for c in cs], axis=0) for v, cs in by_value.items()}
        best = max(values, key=lambda v: val[v])
        for value in values:
            if value == best:
                continue
            y, x = per_image[best], per_image[value]
            ci = _bootstrap((y, x), _mean_difference, paired=True)
            effects.append(AxisEffect(axis, best, value, float(y.mean() - x.mean()), ci, only))
    return effects


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) - mean(b) for per-image correctness on the same images, with its 95%
    paired-bootstrap interval: (difference, low, high)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired samples need the same length >= 2, got {len(a)} and {len(b)}")
    low, high = _bootstrap((a, b), _mean_difference, paired=True)
    return float(a.mean() - b.mean()), low, high


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    paired: bool = False,
) -> tuple[float, float]:
    """A 95% percentile bootstrap interval over images (the same resample for paired data)."""
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=RESAMPLES,
        confidence_level=LEVEL,
        method="percentile",
        paired=paired,
        vectorized=True,
        random_state=SEED,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _natural(value: str) -> tuple:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
