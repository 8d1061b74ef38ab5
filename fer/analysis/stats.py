"""How sure a comparison of runs is, with the seeds counted as well as the test images.

Everything here works on per-image correctness (from the runs' `predictions/test.npz`), so two
configurations are compared on the same test images (paired). A configuration is the set of
runs that share every swept override except `seed`: a (seeds, images) matrix of correctness,
its rows in seed order (`blocks`).

The study trains in **blocks**: one seed of every configuration of a part, the same initial
weights and data order for each. Runs of one block share that luck, so configurations are
compared block by block:

- **tests** are paired t-tests over blocks (scipy's `ttest_rel` on the per-block accuracy
  differences, n - 1 degrees of freedom), on the blocks both sides have; where the two sides
  share fewer than two seeds (runs trained independently) Welch's t-test over the runs is used
  instead, and the comparison says so (`design`). The p-values are Holm-corrected over one
  family: every test a call of `statistics` makes (a report: every test of every part);
- **intervals** are a two-level bootstrap: each resample draws the blocks with replacement (the
  same blocks for both sides), then the test images with replacement (the same images for both
  sides), and averages. With few blocks a plain bootstrap of the block means is too narrow, so
  the block level's deviations are scaled by t(n-1)/z * sqrt(n/(n-1)) (the small-sample
  factor of a t interval). The images-only interval (the seeds' per-image mean, images
  resampled) is kept as a second, named column: what one fixed set of runs says about new
  faces;
- a difference is **significant** when its Holm-corrected p is below 0.05 and its interval
  excludes zero; with fewer than MIN_SEEDS blocks on either side no test is made ("too few
  seeds"). Otherwise "not significant": no difference detected, the interval bounds it;
- comparisons are made against a declared **baseline** configuration (the part's default):
  comparing everything against the best by validation carries a winner's curse (the best is
  picked partly on luck its test accuracy shares), so without a baseline the comparisons with
  the best are descriptive (intervals, no test); **main effects** per swept axis average each
  value's configurations (over the other axes) and **simple effects** give an axis's difference
  at each setting of another, tested block by block.

The calibration of these verdicts on simulated studies with the committed runs' structure is
tested in tests/test_calibration.py; scripts/bench/bench_power.py prints the design's power.
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
MIN_SEEDS = 3  # fewer blocks (or runs) on either side: "too few seeds", never "significant"
_CHUNK = 500  # resamples drawn at a time (memory: _CHUNK x images floats)

SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not significant"
TOO_FEW = "too few seeds"
PAIRED = "paired over blocks"
INDEPENDENT = "independent runs"


@dataclass
class Configuration:
    axes: dict[str, str]  # swept axis -> value, seed left out
    correct: np.ndarray | None  # (seeds, images) bool, columns in test-index order; None: no data
    val_acc: float  # mean over seeds
    blocks: tuple[str, ...] = ()  # the seed of each row of `correct`; () = 0, 1, ...

    def __post_init__(self) -> None:
        if not self.blocks and self.correct is not None:
            self.blocks = tuple(str(k) for k in range(len(self.correct)))

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

    def rows(self, blocks: Sequence[str]) -> np.ndarray:
        """The runs of these blocks, in that order."""
        where = {b: i for i, b in enumerate(self.blocks)}
        return self.correct[[where[b] for b in blocks]]


@dataclass
class Outcome:
    """One comparison's test: the difference (accuracy, 0..1), its intervals, p and design."""

    diff: float
    ci: tuple[float, float]  # blocks (or seeds) and images resampled
    ci_images: tuple[float, float]  # images only
    p: float | None  # None: too few seeds, or a descriptive comparison (no test)
    seeds: int  # blocks compared (paired) or the fewer runs of the two sides
    design: str  # PAIRED or INDEPENDENT
    p_holm: float | None = None


@dataclass
class Comparison:
    config: Configuration
    accuracy: float
    ci: tuple[float, float]  # seeds and images resampled
    ci_images: tuple[float, float]  # images only
    diff: float | None = None  # reference minus this, in accuracy (0..1); None: the reference
    diff_ci: tuple[float, float] | None = None  # blocks and images resampled
    diff_ci_images: tuple[float, float] | None = None
    p: float | None = None  # the paired (or Welch) test; None: too few seeds or descriptive
    p_holm: float | None = None
    seeds: int = 0  # blocks compared
    design: str = ""
    reference: str = "baseline"  # baseline | best by val (descriptive: no test)

    @property
    def verdict(self) -> str | None:
        """None for the reference itself; "descriptive" against the best by val (no test);
        else SIGNIFICANT, NOT_SIGNIFICANT or TOO_FEW."""
        if self.diff is None:
            return None
        if self.reference != "baseline":
            return "descriptive"
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
    seeds: int = 0  # blocks (or replicates on the thinner side)
    design: str = ""

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
                f"{interval} (p_holm {self.p_holm:.2g}, {self.seeds} blocks)"
            )
        elif verdict == TOO_FEW:
            text = (
                f"{self.axis}{where}: {self.best} vs {self.value} differs by {points:.1f} points "
                f"{interval}, too few seeds ({self.seeds}) to call"
            )
        else:
            text = (
                f"{self.axis}{where}: {self.best} vs {self.value}: no difference detected "
                f"({points:+.1f} points; the interval bounds it to {interval}; p_holm "
                f"{self.p_holm:.2g}, {self.seeds} blocks)"
            )
        return text + (f" (at {self.only} only)" if self.only else "")


def verdict(p_holm: float | None, ci: tuple[float, float] | None, seeds: int) -> str:
    """SIGNIFICANT when the corrected p is below ALPHA and the seed-aware interval excludes zero,
    TOO_FEW with fewer than MIN_SEEDS seeds a side (or no test), else NOT_SIGNIFICANT."""
    if p_holm is None or seeds < MIN_SEEDS:
        return TOO_FEW
    excludes_zero = ci is not None and (ci[0] > 0 or ci[1] < 0)
    return SIGNIFICANT if p_holm < ALPHA and excludes_zero else NOT_SIGNIFICANT


def shared_blocks(a: Sequence[Configuration], b: Sequence[Configuration]) -> list[str]:
    """The seeds every configuration on both sides has, in a stable order."""
    common = set.intersection(*(set(c.blocks) for c in (*a, *b)))
    return sorted(common, key=natural_key)


def compare_sides(
    a: Sequence[Configuration], b: Sequence[Configuration], tested: bool = True
) -> Outcome:
    """Side `a` (its configurations averaged) minus side `b`: paired over the blocks all of them
    share when there are at least two, else over independent runs (Welch). `tested=False`:
    intervals only (a descriptive comparison)."""
    blocks = shared_blocks(a, b)
    y = np.mean([c.per_image for c in a], axis=0)
    x = np.mean([c.per_image for c in b], axis=0)
    ci_images = images_interval((y, x))
    if len(blocks) >= 2:
        ra = np.mean([c.rows(blocks) for c in a], axis=0)  # (blocks, images)
        rb = np.mean([c.rows(blocks) for c in b], axis=0)
        diff = float(ra.mean() - rb.mean())
        p = block_test(run_accuracies(ra), run_accuracies(rb)) if tested else None
        return Outcome(diff, blocked_interval(ra, rb), ci_images, p, len(blocks), PAIRED)
    k_a, k_b = min(c.seeds for c in a), min(c.seeds for c in b)
    p = seed_test(_replicates(a, k_a), _replicates(b, k_b)) if tested else None
    ci = difference_interval([c.correct for c in a], [c.correct for c in b])
    return Outcome(float(y.mean() - x.mean()), ci, ci_images, p, min(k_a, k_b), INDEPENDENT)


def compare(
    configs: list[Configuration], baseline: dict[str, str] | None = None
) -> list[Comparison]:
    """Each configuration with predictions: its intervals, and its comparison with the
    reference: the `baseline` configuration (its axes; tested, block by block) when given and
    present, else the best by validation accuracy (intervals only: no test, no verdict).
    The reference comes first. Holm's correction is the caller's (`correct_family`)."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    declared = [c for c in usable if baseline and _matches(c, baseline)]
    reference = declared[0] if len(declared) == 1 else usable[0]
    kind = "baseline" if reference in declared else "best by val"
    results = []
    for config in [reference, *(c for c in usable if c is not reference)]:
        x = config.per_image
        result = Comparison(
            config,
            float(x.mean()),
            accuracy_interval(config.correct),
            images_interval((x,)),
            seeds=config.seeds,
            reference=kind,
        )
        if config is not reference:
            t = compare_sides([reference], [config], tested=kind == "baseline")
            result.diff, result.diff_ci, result.diff_ci_images = t.diff, t.ci, t.ci_images
            result.p, result.seeds, result.design = t.p, t.seeds, t.design
        results.append(result)
    return results


def _matches(config: Configuration, spec: dict[str, str]) -> bool:
    return all(config.axes.get(k) == v for k, v in spec.items())


def run_accuracies(correct: np.ndarray) -> np.ndarray:
    """Each run's (row's) accuracy."""
    return np.asarray(correct, float).mean(axis=1)


def block_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p of the paired t-test over blocks (a[k] and b[k] trained in block k): 'the
    per-block differences average zero'; None with fewer than MIN_SEEDS blocks."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < MIN_SEEDS:
        return None
    if np.all(d == d[0]):  # no spread: identical differences
        return 1.0 if d[0] == 0 else 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def seed_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test for 'runs of a and runs of b are equally accurate',
    one accuracy per run (runs not trained in blocks); None with fewer than MIN_SEEDS runs on
    either side."""
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


def correct_family(results: Sequence[Comparison | AxisEffect]) -> int:
    """Holm-correct every tested result together, in place; returns the family's size."""
    tested = [r for r in results if r.p is not None]
    for r, p in zip(tested, holm([r.p for r in tested])):
        r.p_holm = p
    return len(tested)


def accuracy_interval(correct: np.ndarray) -> tuple[float, float]:
    """95% two-level bootstrap interval of a configuration's accuracy: seeds, then images."""
    return _two_level([[correct]], [])


def difference_interval(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, float]:
    """95% two-level bootstrap interval of mean(a) - mean(b) for runs not trained in blocks:
    each side a list of configurations' (seeds, images) correctness, averaged; every
    configuration's seeds are resampled on their own, the images once for both sides."""
    return _two_level([a], [b])


def blocked_interval(
    a: np.ndarray, b: np.ndarray, resamples: int | None = None, seed: int = SEED
) -> tuple[float, float]:
    """95% two-level bootstrap interval of mean(a) - mean(b) where row k of both sides was
    trained in block k (rows: blocks, columns: the same test images).

    Level 1 draws blocks with replacement (the same for both sides) and takes the mean of their
    accuracy differences, its deviation scaled by the small-sample factor t(n-1)/z *
    sqrt(n/(n-1)). Level 2 draws test images with replacement (the same for both sides) from
    the per-image differences, shrunk to the image-to-image spread that the runs' own noise does
    not explain: resampling the raw per-image differences would count each run's per-image
    noise twice, once in its accuracy and again as an image effect (Owen 2007, the crossed
    "pigeonhole" bootstrap), and on real runs, which disagree on 11-14% of faces, that alone
    makes the interval far too wide."""
    d = np.asarray(a, float) - np.asarray(b, float)  # (blocks, images)
    n, images = d.shape
    mean = float(d.mean())
    rows = d.mean(axis=1)
    columns = d.mean(axis=0)
    residual = d - rows[:, None] - columns[None] + mean
    ms_residual = float((residual**2).sum() / max((n - 1) * (images - 1), 1))
    spread = float(columns.var(ddof=1))  # image effects + residual / n
    image_effects = max(spread - ms_residual / n, 0.0)
    shrunk = mean + np.sqrt(image_effects / spread) * (columns - mean) if spread else columns
    factor = stats.t.ppf((1 + LEVEL) / 2, n - 1) / stats.norm.ppf((1 + LEVEL) / 2)
    factor *= np.sqrt(n / (n - 1))
    rng = np.random.default_rng(seed)
    total = resamples or RESAMPLES
    out = np.empty(total)
    for start in range(0, total, _CHUNK):
        k = min(_CHUNK, total - start)
        blocks = rows[rng.integers(0, n, (k, n))].mean(axis=1)
        faces = shrunk[rng.integers(0, images, (k, images))].mean(axis=1)
        out[start : start + k] = mean + factor * (blocks - mean) + (faces - mean)
    low, high = np.quantile(out, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


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
    t = compare_sides(a, b)
    return AxisEffect(
        axis,
        best,
        value,
        t.diff,
        t.ci,
        ci_images=t.ci_images,
        p=t.p,
        seeds=t.seeds,
        design=t.design,
        **kw,
    )


def _replicates(configs: Sequence[Configuration], k: int) -> np.ndarray:
    """Run accuracies averaged over the configurations seed by seed (run k of each), as many as
    the thinnest configuration has: independent replicates of the side's mean."""
    return np.mean([run_accuracies(c.correct)[:k] for c in configs], axis=0)


def axis_effects(configs: list[Configuration], skip: Sequence[str] = ()) -> list[AxisEffect]:
    """Per swept axis (but those in `skip`: a declared baseline's axes, whose comparisons are
    made against it), each value against the axis's best value (by validation accuracy),
    both averaged over the other axes; then, with two or more axes, the same at each setting
    of each other axis (simple effects: where axes interact they differ). In an incomplete
    grid only the other axes' settings that every value has are used, and the effect says
    which. Holm's correction is the caller's (`correct_family`)."""
    usable = [c for c in configs if c.correct is not None]
    if not usable or len({c.correct.shape[1] for c in usable}) > 1:
        return []
    effects = []
    names = list(usable[0].axes)
    for axis in names:
        values = sorted({c.axes[axis] for c in usable}, key=natural_key)
        if len(values) < 2 or axis in skip:
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
            for setting in sorted({c.axes[other] for c in usable}, key=natural_key):
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


def natural_key(value: str) -> tuple:
    """Sort key putting numbers in numeric order ("2" < "10") before other strings."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
