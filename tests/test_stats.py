"""fer-compare's statistics on fabricated runs whose per-image predictions are known, and
their calibration on simulated studies (seed effects and image effects)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from test_compare import fabricate

from fer.analysis import stats as fer_stats
from fer.analysis.compare import configurations, statistics
from fer.analysis.stats import (
    SIGNIFICANT,
    TOO_FEW,
    Configuration,
    axis_effects,
    compare,
    difference_interval,
    holm,
    paired_difference,
    run_accuracies,
    seed_test,
    verdict,
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
    for c in comparisons:
        assert c.config.seeds == 3
        assert c.ci[0] < c.accuracy < c.ci[1] and c.ci[1] - c.ci[0] < 0.1
        # seeds resampled as well as images: never narrower than the images-only interval
        assert c.ci[1] - c.ci[0] >= 0.95 * (c.ci_images[1] - c.ci_images[0])
        if c.config.axes["model.norm"] == "none":
            assert c.significant and 0.12 < c.diff < 0.28 and c.diff_ci[0] > 0.1
        elif c is not best:
            assert not c.significant and c.diff_ci[0] < 0 < c.diff_ci[1]
    sentences = {e.axis: e.sentence() for e in effects if not e.at}
    simple = [e.sentence() for e in effects if e.at]
    assert any(t.startswith("model.norm at model.depth=2: batch beats none") for t in simple)
    assert sentences["model.norm"].startswith("model.norm: batch beats none by")
    assert "within noise" in sentences["model.depth"]


def test_seed_test_is_welch_over_run_accuracies_and_needs_three_seeds_and_holm():
    a, b = [0.640, 0.645, 0.652], [0.621, 0.630, 0.626]
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
    assert "two-level bootstrap over seeds and test images" in out
    markdown = (study / "comparison.md").read_text()
    assert "## Statistics" in markdown and "within noise" in markdown
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
    assert rows["| model.depth: 2 − 4 | averaged"].endswith("| 3 | within noise |")


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
        [Configuration({"x": "a"}, runs, 0.7), Configuration({"x": "b"}, runs.copy(), 0.6)]
    )
    assert same.diff == 0 and same.diff_ci[0] <= 0 <= same.diff_ci[1]
    assert same.p == 1.0 and same.significant is False


def test_single_runs_are_too_few_seeds_however_large_the_difference():
    rng = np.random.default_rng(3)
    worse = rng.random(3589) < 0.5
    better = worse | (rng.random(3589) < 0.5)  # 25 points better
    other = compare([single(better, 0.7), single(worse, 0.6)])[1]
    assert other.diff_ci[0] > 0.2 and other.p is None
    assert other.verdict == TOO_FEW and other.significant is False
    two = compare([seeded(better, 0.7, seeds=2), seeded(worse, 0.6, seeds=2)])[1]
    assert two.verdict == TOO_FEW and not two.significant


def test_200_more_faces_right_over_three_seeds_is_significant_and_seeded():
    rng = np.random.default_rng(3)
    worse = rng.random(3589) < 0.62
    better = worse.copy()
    better[np.flatnonzero(~worse)[:200]] = True  # right on 200 more faces
    results = compare([seeded(better, 0.7), seeded(worse, 0.6)])
    other = results[1]
    assert other.diff == pytest.approx(200 / 3589, abs=0.01)
    assert other.diff_ci[0] > 0 and other.significant
    again = compare([seeded(better, 0.7), seeded(worse, 0.6)])[1]
    assert (again.diff_ci, again.ci, again.p) == (other.diff_ci, other.ci, other.p)


def simulated_study(
    rng: np.random.Generator, shift: float, seed_sd: float, images: int = 3589, seeds: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Two configurations' (seeds, images) correctness on the same test images, drawn from a
    logistic model with an image effect (how hard each face is, shared), a seed effect (each
    run's shift) and `shift` logits more for the first configuration."""
    hardness = rng.normal(0.6, 2.0, images)

    def runs(offset: float) -> np.ndarray:
        logits = hardness[None] + offset + rng.normal(0, seed_sd, (seeds, 1))
        return rng.random((seeds, images)) < 1 / (1 + np.exp(-logits))

    return runs(shift), runs(0.0)


@pytest.fixture
def fewer_resamples(monkeypatch):
    """Hundreds of simulated studies: 400 bootstrap resamples each instead of 2,000."""
    monkeypatch.setattr(fer_stats, "RESAMPLES", 400)


def verdict_of(a: np.ndarray, b: np.ndarray) -> str:
    """The verdict fer-compare gives one comparison (a family of one: p_holm = p)."""
    p = seed_test(run_accuracies(a), run_accuracies(b))
    return verdict(p, difference_interval([a], [b]), min(len(a), len(b)))


def test_calibration_null_comparisons_are_significant_at_most_7_percent_of_the_time(
    fewer_resamples,
):
    """240 null studies (no true difference; seed noise and image noise): the rate of
    'significant' at alpha 0.05 stays at most 0.07, as a calibrated test must."""
    rng = np.random.default_rng(11)
    verdicts = [verdict_of(*simulated_study(rng, 0.0, seed_sd=0.05)) for _ in range(240)]
    assert TOO_FEW not in verdicts  # a test was made in every one
    rate = np.mean([v == SIGNIFICANT for v in verdicts])
    assert rate <= 0.07, rate


def test_calibration_a_true_3_point_difference_is_found_at_least_90_percent_of_the_time(
    fewer_resamples,
):
    rng = np.random.default_rng(12)
    found, diffs = [], []
    for _ in range(100):
        a, b = simulated_study(rng, 0.20, seed_sd=0.02)
        found.append(verdict_of(a, b) == SIGNIFICANT)
        diffs.append(a.mean() - b.mean())
    assert 0.025 < np.mean(diffs) < 0.04  # the shift is about 3 points of accuracy
    assert np.mean(found) >= 0.9, np.mean(found)


def test_calibration_with_two_seeds_nothing_is_ever_significant(fewer_resamples):
    rng = np.random.default_rng(13)
    for _ in range(10):
        assert verdict_of(*simulated_study(rng, 0.5, seed_sd=0.02, seeds=2)) == TOO_FEW


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
