"""fer-compare's statistics on fabricated runs whose per-image predictions are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from test_compare import fabricate

from fer.analysis.compare import configurations, find_runs, main, statistics
from fer.analysis.stats import (
    Configuration,
    axis_effects,
    compare,
    holm,
    paired_difference,
    paired_p_value,
)
from fer.predictions import write_predictions

N = 600  # test images
CLASSES = 7


def predictions(correct: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Probabilities whose argmax is right exactly where `correct` says."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, len(correct))
    predicted = np.where(
        correct, labels, (labels + rng.integers(1, CLASSES, len(correct))) % CLASSES
    )
    probs = np.full((len(correct), CLASSES), 0.05, np.float32)
    probs[np.arange(len(correct)), predicted] = 0.7
    return {"labels": labels, "probs": probs}


@pytest.fixture
def study(tmp_path):
    """norm=batch is right on 72% of the images, norm=none on 52%; depth changes nothing.
    Two seeds each; runs are listed shuffled by index to check the pairing."""
    sweep = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    easy = rng.random(N)  # how easy each image is, shared by all runs (paired data)
    job = 0
    for depth in (2, 4):
        for norm, threshold in (("batch", 0.72), ("none", 0.52)):
            for seed in (0, 1):
                noise = rng.random(N) < 0.1  # a seed flips 10% of the images
                correct = (easy < threshold) ^ noise
                acc = float(correct.mean())
                run = fabricate(
                    sweep,
                    job,
                    [f"model.depth={depth}", f"model.norm={norm}", f"seed={seed}"],
                    val=acc,
                    test=acc,
                )
                order = rng.permutation(N)
                p = predictions(correct, job)
                write_predictions(
                    run / "predictions" / "test.npz",
                    order,
                    {"labels": p["labels"][order], "probs": p["probs"][order]},
                )
                job += 1
    return sweep


def test_configuration_intervals_and_paired_comparisons(study):
    comparisons, effects, missing = statistics(find_runs([str(study)]))
    assert missing == 0 and len(comparisons) == 4
    best = comparisons[0]
    assert best.config.axes["model.norm"] == "batch" and best.diff is None
    for c in comparisons:
        assert c.ci[0] < c.accuracy < c.ci[1] and c.ci[1] - c.ci[0] < 0.1
        if c.config.axes["model.norm"] == "none":
            assert c.significant and 0.12 < c.diff < 0.28 and c.diff_ci[0] > 0.1
        elif c is not best:
            assert not c.significant and c.diff_ci[0] < 0 < c.diff_ci[1]
    sentences = {e.axis: e.sentence() for e in effects}
    assert sentences["model.norm"].startswith("model.norm: batch beats none by")
    assert sentences["model.depth"].endswith("within noise")


def test_mcnemar_for_single_runs_and_holm():
    rng = np.random.default_rng(1)
    a = rng.random(N) < 0.7
    b = a.copy()
    b[:40] = ~b[:40]  # 40 discordant images
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    expected = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert paired_p_value(a[None], b[None]) == pytest.approx(expected)
    assert paired_p_value(a[None], a[None]) == 1.0
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_runs_without_predictions_get_no_statistics(tmp_path, capsys):
    sweep = tmp_path / "old"
    fabricate(sweep, 0, ["model.norm=batch"], val=0.6, test=0.6)
    fabricate(sweep, 1, ["model.norm=none"], val=0.5, test=0.5)
    configs = configurations(find_runs([str(sweep)]))
    assert all(c.correct is None for c in configs)
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "without predictions/test.npz" in out and "beats" not in out


def test_fer_compare_prints_and_plots_the_statistics(study, capsys):
    assert main([str(study)]) == 0
    out = capsys.readouterr().out
    assert "model.norm: batch beats none by" in out and "p_holm" in out
    markdown = (study / "comparison.md").read_text()
    assert "## Statistics" in markdown and "within noise" in markdown
    assert (study / "accuracy_by_axis.png").stat().st_size > 1000


def test_fer_report_states_which_differences_are_noise(study, tmp_path):
    from fer.analysis.report import main as report_main

    assert report_main([str(study), "--out", str(tmp_path / "report.md")]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "model.norm: batch beats none by" in report and "within noise" in report


def single(correct: np.ndarray, val: float) -> Configuration:
    """A one-run configuration with this per-image correctness."""
    return Configuration({"x": str(val)}, correct[None], val)


def test_identical_predictions_differ_by_nothing():
    correct = np.random.default_rng(2).random(3589) < 0.65
    best, same = compare([single(correct, 0.7), single(correct.copy(), 0.6)])
    assert same.diff == 0 and same.diff_ci[0] <= 0 <= same.diff_ci[1]
    assert same.p == 1.0 and same.significant is False


def test_200_more_faces_right_is_significant_and_seeded():
    rng = np.random.default_rng(3)
    worse = rng.random(3589) < 0.62
    better = worse.copy()
    better[np.flatnonzero(~worse)[:200]] = True  # right on 200 more faces
    results = compare([single(better, 0.7), single(worse, 0.6)])
    other = results[1]
    assert other.diff == pytest.approx(200 / 3589)
    assert other.diff_ci[0] > 0 and other.significant
    again = compare([single(better, 0.7), single(worse, 0.6)])[1]
    assert (again.diff_ci, again.ci, again.p) == (other.diff_ci, other.ci, other.p)


def test_axis_effects_in_an_unfinished_grid_compare_only_what_both_values_ran():
    """depth 4 runs are far better; with depth=4 norm=none not run yet, norm's effect must be
    the depth=2 difference alone, not batch's depth-4 advantage counted as normalisation."""
    rng = np.random.default_rng(4)
    base = rng.random(3589) < 0.40
    with_bn = base | (rng.random(3589) < 0.08)
    deep = with_bn | (rng.random(3589) < 0.35)
    configs = [
        Configuration({"depth": "2", "norm": "none"}, base[None], 0.40),
        Configuration({"depth": "2", "norm": "batch"}, with_bn[None], 0.45),
        Configuration({"depth": "4", "norm": "batch"}, deep[None], 0.63),
    ]
    effects = {e.axis: e for e in axis_effects(configs)}
    norm, depth = effects["norm"], effects["depth"]
    assert norm.diff == pytest.approx(with_bn.mean() - base.mean())
    assert norm.only == "depth=2" and "(at depth=2 only)" in norm.sentence()
    assert depth.diff == pytest.approx(deep.mean() - with_bn.mean()) and depth.only == "norm=batch"
    configs.append(Configuration({"depth": "4", "norm": "none"}, deep[None], 0.60))
    complete = {e.axis: e for e in axis_effects(configs)}
    assert complete["norm"].only == "" and "only" not in complete["norm"].sentence()


def test_paired_difference_interval_covers_the_difference_and_tightens_with_pairing():
    rng = np.random.default_rng(3)
    a = rng.random(600) < 0.75
    b = a.copy()
    flip = rng.choice(600, 30, replace=False)  # b differs from a on 30 images
    b[flip] = ~b[flip]
    diff, low, high = paired_difference(a, b)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert low <= diff <= high
    # paired: the width follows the 30 discordant images (about 4 points), not two
    # independent 600-image accuracies (about 10 points)
    assert 0.02 < high - low < 0.06
    with pytest.raises(ValueError, match="same length"):
        paired_difference(a, b[:-1])
