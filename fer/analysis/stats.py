"""How sure a comparison of runs is, with the seeds counted as well as the test images.

Everything here works on per-image correctness (from the runs' `predictions/test.npz`), so two
configurations are compared on the same test images (paired). A configuration is the set of
runs that share every swept override except `seed`: a (seeds, images) matrix of correctness.

Two sources of noise move a measured accuracy: which test images were drawn, and which seed a
run had (initial weights, data order, augmentation). Both are counted:

- **intervals** are a two-level bootstrap: each resample draws a configuration's seeds with
  replacement, then the test images with replacement (the same images for both sides of a
  paired difference), and averages. The images-only interval (the seeds' per-image mean,
  images resampled) is kept as a second, named column: it is what a single fixed set of runs
  says about new test images, and it is narrower;
- **tests** are Welch's t-test (scipy) on the runs' accuracies, one value per seed: a difference
  counts only if it is larger than the runs of one configuration differ among themselves. The
  p-values are Holm-corrected over a part's family (its comparisons with the best, its main
  effects, its simple effects). A difference is called significant
  only when the corrected p is below 0.05 *and* the two-level interval excludes zero; with
  fewer than MIN_SEEDS seeds on either side no test is made and the verdict is "too few seeds";
- **main effects** per swept axis average each value's configurations (over the other axes),
  and **simple effects** give an axis's difference at each setting of another (interactions),
  with the same intervals and tests; a main effect's replicates are its configurations' runs
  averaged seed by seed.

The calibration of these verdicts on simulated studies is tested in tests/test_stats.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000  # bootstrap resamples per interval
SEED = 0  # the resampling is seeded: the same runs give the same intervals
LEVEL = 0.95
ALPHA = 1 - LEVEL
MIN_SEEDS = 3  # fewer on either side: "too few seeds", never "significant"
_CHUNK = 500  # resamples drawn at a time (memory: _CHUNK x images floats)

SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "within noise"
TOO_FEW = "too few seeds"


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

    @property
    def seeds(self) -> int:
        return 0 if self.correct is None else len(self.correct)


@dataclass
class Comparison:
    config: Configuration
    accuracy: float
    ci: tuple[float, float]  # seeds and images resampled
    ci_images: tuple[float, float]  # images only
    diff: float | None = None  # best minus this, in accuracy (0..1)
    diff_ci: tuple[float, float] | None = None  # seeds and images resampled
    diff_ci_images: tuple[float, float] | None = None
    p: float | None = None  # Welch's t-test over the runs' accuracies; None: too few seeds
    p_holm: float | None = None
    seeds: int = 0  # the fewer seeds of the two sides

    @property
    def verdict(self) -> str | None:
        """None for the best configuration itself, else SIGNIFICANT, NOT_SIGNIFICANT or TOO_FEW."""
        if self.diff is None:
            return None
        return verdict(self.p_holm, self.diff_ci, self.seeds)

    @property
    def significant(self) -> bool | None:
        return None if self.diff is None else self.verdict == SIGNIFICANT


@dataclass
class AxisEffect:
    axis: str
    best: str  # the value with the best validation accuracy
    value: str
    diff: float  # best minus value, test accuracy
    ci: tuple[float, float]  # seeds and images resampled
    only: str = ""  # the other axes' settings compared, when the grid is not complete: "depth=2"
    at: str = ""  # a simple effect: the setting of another axis it is measured at ("depth=6")
    ci_images: tuple[float, float] | None = None
    p: float | None = None
    p_holm: float | None = None
    seeds: int = 0  # replicates on the thinner side

    @property
    def verdict(self) -> str:
        return verdict(self.p_holm, self.ci, self.seeds)

    def sentence(self) -> str:
        lo, hi = (100 * v for v in self.ci)
        points = 100 * self.diff
        where = f" at {self.at}" if self.at else ""
        interval = f"[{lo:.1f}, {hi:.1f}]"
        verdict = self.verdict
        if verdict == SIGNIFICANT:
            winner, loser = (self.best, self.value) if points > 0 else (self.value, self.best)
            text = (
                f"{self.axis}{where}: {winner} beats {loser} by {abs(points):.1f} points "
                f"{interval} (p_holm {self.p_holm:.2g}, {self.seeds} seeds)"
            )
        elif verdict == TOO_FEW:
            text = (
                f"{self.axis}{where}: {self.best} vs {self.value} differs by {points:.1f} points "
                f"{interval}, too few seeds ({self.seeds}) to call"
            )
        else:
            text = (
                f"{self.axis}{where}: {self.best} vs {self.value} differs by {points:.1f} points "
                f"{interval}, within noise (p_holm {self.p_holm:.2g}, {self.seeds} seeds)"
            )
        return text + (f" (at {self.only} only)" if self.only else "")


def verdict(p_holm: float | None, ci: tuple[float, float] | None, seeds: int) -> str:
    """SIGNIFICANT when the corrected p is below ALPHA and the seed-aware interval excludes zero,
    TOO_FEW with fewer than MIN_SEEDS seeds a side (or no test), else NOT_SIGNIFICANT."""
    if p_holm is None or seeds < MIN_SEEDS:
        return TOO_FEW
    excludes_zero = ci is not None and (ci[0] > 0 or ci[1] < 0)
    return SIGNIFICANT if p_holm < ALPHA and excludes_zero else NOT_SIGNIFICANT


def compare(configs: list[Configuration]) -> list[Comparison]:
    """Each configuration with predictions: its intervals, and its comparison with the best one
    by validation accuracy (Welch's t over seeds, Holm-corrected over the comparisons)."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    best = usable[0]
    results = []
    for config in usable:
        x = config.per_image
        result = Comparison(
            config,
            float(x.mean()),
            accuracy_interval(config.correct),
            images_interval((x,)),
            seeds=config.seeds,
        )
        if config is not best:
            result.diff = float(best.per_image.mean() - x.mean())
            result.diff_ci = difference_interval([best.correct], [config.correct])
            result.diff_ci_images = images_interval((best.per_image, x))
            result.seeds = min(best.seeds, config.seeds)
            result.p = seed_test(run_accuracies(best.correct), run_accuracies(config.correct))
        results.append(result)
    _holm_into([r for r in results if r.diff is not None])
    return results


def run_accuracies(correct: np.ndarray) -> np.ndarray:
    """Each run's (row's) accuracy."""
    return np.asarray(correct, float).mean(axis=1)


def seed_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test for 'runs of a and runs of b are equally accurate',
    one accuracy per run; None with fewer than MIN_SEEDS runs on either side."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        return None
    if a.mean() == b.mean():
        return 1.0
    if a.var() == 0 and b.var() == 0:  # identical runs on each side, different means
        return 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


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


def _holm_into(results: Sequence[Comparison | AxisEffect]) -> None:
    tested = [r for r in results if r.p is not None]
    for r, p in zip(tested, holm([r.p for r in tested])):
        r.p_holm = p


def accuracy_interval(correct: np.ndarray) -> tuple[float, float]:
    """95% two-level bootstrap interval of a configuration's accuracy: seeds, then images."""
    return _two_level([[correct]], [])


def difference_interval(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, float]:
    """95% two-level bootstrap interval of mean(a) - mean(b): each side a list of
    configurations' (seeds, images) correctness, averaged; every configuration's seeds are
    resampled on their own, the images once for both sides (paired)."""
    return _two_level([a], [b])


def _two_level(plus: list[list[np.ndarray]], minus: list[list[np.ndarray]]) -> tuple[float, float]:
    """Percentile interval of sum(mean of each group in plus) - sum(... in minus), where a
    group's value is the mean over its configurations of their seed-resampled, per-image
    accuracy, and the images are resampled once for everything."""
    rng = np.random.default_rng(SEED)
    images = next(m for g in plus for m in g).shape[1]
    out = np.empty(RESAMPLES)
    for start in range(0, RESAMPLES, _CHUNK):
        n = min(_CHUNK, RESAMPLES - start)
        per_image = np.zeros((n, images))
        for sign, groups in ((1.0, plus), (-1.0, minus)):
            for group in groups:
                for matrix in group:
                    seeds = len(matrix)
                    picks = rng.integers(0, seeds, (n, seeds))
                    weights = np.zeros((n, seeds))
                    np.add.at(weights, (np.arange(n)[:, None], picks), 1.0 / seeds)
                    per_image += sign / len(group) * (weights @ np.asarray(matrix, float))
        drawn = rng.integers(0, images, (n, images))
        out[start : start + n] = np.take_along_axis(per_image, drawn, axis=1).mean(axis=1)
    low, high = np.quantile(out, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


def images_interval(data: tuple[np.ndarray, ...]) -> tuple[float, float]:
    """95% percentile bootstrap over test images only: of the mean of one per-image vector, or
    of the paired difference of two (the seeds fixed at the runs that were made)."""
    statistic = _mean if len(data) == 1 else _mean_difference
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=RESAMPLES,
        confidence_level=LEVEL,
        method="percentile",
        paired=len(data) > 1,
        vectorized=True,
        random_state=SEED,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _cell(config: Configuration, axes: list[str]) -> tuple[str, ...]:
    return tuple(config.axes[a] for a in axes)


def _effect(
    axis: str, best: str, value: str, a: list[Configuration], b: list[Configuration], **kw: str
) -> AxisEffect:
    """best's configurations `a` against value's `b`, averaged over each side's configurations."""
    y = np.mean([c.per_image for c in a], axis=0)
    x = np.mean([c.per_image for c in b], axis=0)
    ra, rb = _replicates(a), _replicates(b)
    return AxisEffect(
        axis,
        best,
        value,
        float(y.mean() - x.mean()),
        difference_interval([c.correct for c in a], [c.correct for c in b]),
        ci_images=images_interval((y, x)),
        p=seed_test(ra, rb),
        seeds=min(len(ra), len(rb)),
        **kw,
    )


def _replicates(configs: list[Configuration]) -> np.ndarray:
    """Run accuracies averaged over the configurations seed by seed (run k of each), as many as
    the thinnest configuration has: independent replicates of the side's mean."""
    k = min(c.seeds for c in configs)
    return np.mean([run_accuracies(c.correct)[:k] for c in configs], axis=0)


def axis_effects(configs: list[Configuration]) -> list[AxisEffect]:
    """Per swept axis, each value against the axis's best value (by validation accuracy), both
    averaged over the other axes; then, with two or more axes, the same at each setting of
    each other axis (simple effects: where axes interact they differ). In an incomplete grid
    only the other axes' settings that every value has are used, and the effect says which.
    Holm's correction runs over the main effects as one family and the simple effects as
    another."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    effects = []
    names = list(usable[0].axes)
    for axis in names:
        values = sorted({c.axes[axis] for c in usable}, key=_natural)
        if len(values) < 2:
            continue
        # Only the settings of the other axes that every value was run with: in a grid still
        # being filled, averaging over what exists would mix in the other axes' effects.
        others = [a for a in names if a != axis]
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
        best = max(values, key=lambda v: val[v])
        for value in values:
            if value != best:
                effects.append(
                    _effect(axis, best, value, by_value[best], by_value[value], only=only)
                )
        if len(common) < 2:
            continue  # one setting of the others: the main effect is the simple effect
        for other in others:
            for setting in sorted({c.axes[other] for c in usable}, key=_natural):
                here = {
                    v: [c for c in cs if c.axes[other] == setting] for v, cs in by_value.items()
                }
                if any(not cs for cs in here.values()):
                    continue
                for value in values:
                    if value != best:
                        effects.append(
                            _effect(
                                axis, best, value, here[best], here[value], at=f"{other}={setting}"
                            )
                        )
    _holm_into([e for e in effects if not e.at])
    _holm_into([e for e in effects if e.at])
    return effects


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) - mean(b) for per-image correctness of two fixed models on the same images,
    with its 95% paired-bootstrap interval over images: (difference, low, high)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired samples need the same length >= 2, got {len(a)} and {len(b)}")
    low, high = images_interval((a, b))
    return float(a.mean() - b.mean()), low, high


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _natural(value: str) -> tuple:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
