"""fer-compare's statistics on fabricated runs whose per-image predictions are known, and
the blocked design they read (tests/test_calibration.py calibrates them on simulated studies)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from test_compare import fabricate

from fer.analysis.compare import configurations, statistics
from fer.analysis.stats import (
    TOO_FEW,
    Configuration,
    axis_effects,
    block_test,
    compare,
    correct_family,
    holm,
    paired_difference,
    seed_test,
)
from fer.cli.compare import main
from fer.run.predictions import write_predictions
from fer.run.records import find_runs

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
    Three seeds each; runs are listed shuffled by index to check the pairing."""
    sweep = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    easy = rng.random(N)  # how easy each image is, shared by all runs (paired data)
    job = 0
    for depth in (2, 4):
        for norm, threshold in (("batch", 0.72), ("none", 0.52)):
            for seed in (0, 1, 2):
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
    assert best.config.blocks == ("0", "1", "2")
    for c in comparisons:
        assert c.config.seeds == 3
        assert c.ci[0] < c.accuracy < c.ci[1] and c.ci[1] - c.ci[0] < 0.1
        # seeds resampled as well as images: never narrower than the images-only interval
        assert c.ci[1] - c.ci[0] >= 0.95 * (c.ci_images[1] - c.ci_images[0])
        if c is best:
            continue
        # no declared baseline: against the best by val the comparisons are descriptive
        assert c.reference == "best by val" and c.p is None and c.verdict == "descriptive"
        assert c.design == "paired over blocks"
        if c.config.axes["model.norm"] == "none":
            assert 0.12 < c.diff < 0.28 and c.diff_ci[0] > 0.1
        else:
            assert c.diff_ci[0] < 0 < c.diff_ci[1]
    # one Holm family over every test made: the main and the simple effects
    tested = [e for e in effects if e.p is not None]
    assert len(tested) == len(effects) == 6
    assert all(e.p_holm >= e.p for e in tested)
    sentences = {e.axis: e.sentence() for e in effects if not e.at}
    simple = [e.sentence() for e in effects if e.at]
    assert any(t.startswith("model.norm at model.depth=2: batch beats none") for t in simple)
    assert sentences["model.norm"].startswith("model.norm: batch beats none by")
    assert "no difference detected" in sentences["model.depth"]


def test_block_test_is_paired_t_and_seed_test_is_welch_both_need_three_seeds_and_holm():
    a, b = [0.640, 0.645, 0.652], [0.621, 0.630, 0.626]
    assert block_test(a, b) == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert block_test(a, a) == 1.0 and block_test(a[:2], b[:2]) is None
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert seed_test(a, b) == pytest.approx(expected)
    assert seed_test(a, a) == 1.0
    assert seed_test(a[:2], b) is None and seed_test(a, b[:2]) is None
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
    assert "two-level bootstrap over blocks (seeds) and test images" in out
    assert "Holm family: the 6 tests above" in out
    markdown = (study / "comparison.md").read_text()
    assert "## Statistics" in markdown and "no difference detected" in markdown
    assert (study / "accuracy_by_axis.png").stat().st_size > 1000


def test_fer_report_states_which_differences_are_noise(study, tmp_path):
    from fer.cli.report import main as report_main

    assert report_main([str(study), "--out", str(tmp_path / "report.md")]) == 0
    report = (tmp_path / "report.md").read_text()
    rows = {
        line.split(" | ")[0] + " | " + line.split(" | ")[1]: line
        for line in report.splitlines()
        if line.startswith("| model.")
    }
    assert rows["| model.norm: batch − none | averaged"].endswith("| 3 | significant |")
    assert rows["| model.depth: 2 − 4 | averaged"].endswith("| 3 | not significant |")


def single(correct: np.ndarray, val: float) -> Configuration:
    """A one-run configuration with this per-image correctness."""
    return Configuration({"x": str(val)}, correct[None], val)


def seeded(correct: np.ndarray, val: float, seeds: int = 3, flip: float = 0.02) -> Configuration:
    """`seeds` runs around this correctness, each flipping a different `flip` share of images."""
    rng = np.random.default_rng(int(val * 1000))
    runs = np.array([correct ^ (rng.random(len(correct)) < flip) for _ in range(seeds)])
    return Configuration({"x": str(val)}, runs, val)


def test_identical_runs_differ_by_nothing():
    correct = np.random.default_rng(2).random(3589) < 0.65
    runs = np.array([correct] * 3)
    best, same = compare(
        [Configuration({"x": "a"}, runs, 0.7), Configuration({"x": "b"}, runs.copy(), 0.6)],
        baseline={"x": "a"},
    )
    assert same.diff == 0 and same.diff_ci[0] <= 0 <= same.diff_ci[1]
    assert same.p == 1.0 and same.significant is False


def test_single_runs_are_too_few_seeds_however_large_the_difference():
    rng = np.random.default_rng(3)
    worse = rng.random(3589) < 0.5
    better = worse | (rng.random(3589) < 0.5)  # 25 points better
    other = compare([single(better, 0.7), single(worse, 0.6)], {"x": "0.7"})[1]
    assert other.diff_ci[0] > 0.2 and other.p is None
    assert other.verdict == TOO_FEW and other.significant is False
    two = compare([seeded(better, 0.7, seeds=2), seeded(worse, 0.6, seeds=2)], {"x": "0.7"})[1]
    assert two.verdict == TOO_FEW and not two.significant


def test_200_more_faces_right_over_three_seeds_is_significant_and_seeded():
    rng = np.random.default_rng(3)
    worse = rng.random(3589) < 0.62
    better = worse.copy()
    better[np.flatnonzero(~worse)[:200]] = True  # right on 200 more faces
    results = compare([seeded(better, 0.7), seeded(worse, 0.6)], {"x": "0.7"})
    other = results[1]
    correct_family(results)
    assert other.diff == pytest.approx(200 / 3589, abs=0.01)
    assert other.diff_ci[0] > 0 and other.significant
    again = compare([seeded(better, 0.7), seeded(worse, 0.6)], {"x": "0.7"})[1]
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
