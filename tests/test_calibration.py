"""The study's statistics on simulated studies with the committed runs' structure
(fer.analysis.simulate: faces that runs mostly agree on, a whole-run seed effect, offsets
between blocks, a shared baseline against 12 alternatives): false positives per comparison and
over a report-sized family, and the coverage of the intervals. Each bound is one a broken method
misses (scripts/dev/mutation_check.py: images-only intervals, an unpaired test, a ddof=0 z-test,
no multiplicity correction)."""

from __future__ import annotations

import numpy as np
import pytest

from fer.analysis import simulate
from fer.analysis.stats import Outcome, block_test, blocked_interval, correct_family

STUDIES = 2000  # null studies, each a baseline against 12 alternatives in 5 blocks
COVERAGE_STUDIES = 800


@pytest.fixture(scope="module")
def null_p() -> np.ndarray:
    """(studies, 12) p-values of each alternative against the baseline, seed noise 0.3-1.0."""
    rng = np.random.default_rng(53)
    parts = []
    for seed_points in (0.3, 0.6, 1.0):
        acc = simulate.run_accuracies(
            rng, STUDIES // 3 + 1, simulate.Design(seed_points=seed_points)
        )
        parts += [[block_test(s[k], s[0]) for k in range(1, s.shape[0])] for s in acc]
    return np.array(parts, float)


def test_a_null_comparison_is_called_at_its_nominal_rate(null_p):
    rate = float(np.mean(null_p < 0.05))
    assert 0.02 <= rate <= 0.06, rate  # a paired test over blocks at alpha 0.05


def test_a_report_sized_family_stays_within_its_error_rate(null_p):
    """Holm over the 12 comparisons of a study: at most 5% of null studies call anything."""
    wrong = 0
    for row in null_p:
        family = [Outcome(0.0, (0.0, 0.0), (0.0, 0.0), float(p), 5, "paired") for p in row]
        correct_family(family)
        wrong += any(t.p_holm < 0.05 for t in family)
    rate = wrong / len(null_p)
    assert rate <= 0.05, rate


def test_intervals_cover_the_true_difference_95_percent_of_the_time():
    """Blocks and faces both vary: the two-level interval covers zero (the truth under the
    null) in 93-97% of studies, over seed noise from 0.3 to 1.0 points."""
    rng = np.random.default_rng(54)
    covered = []
    for seed_points in (0.3, 0.6, 1.0):
        design = simulate.Design(alternatives=1, seed_points=seed_points)
        for batch in simulate.studies(rng, COVERAGE_STUDIES // 3, design):
            for study in batch:
                low, high = blocked_interval(study[1], study[0], resamples=500)
                covered.append(low <= 0 <= high)
    rate = float(np.mean(covered))
    assert 0.93 <= rate <= 0.97, rate


def test_the_simulation_has_the_committed_runs_structure():
    rng = np.random.default_rng(55)
    study = next(simulate.studies(rng, 4, simulate.Design(alternatives=1), chunk=4))
    same = np.mean(study[:, 0, 0] == study[:, 1, 0])  # same block (seed), two configurations
    other = np.mean(study[:, 0, 0] == study[:, 0, 1])  # one configuration, two seeds
    assert 0.85 <= other < same <= 0.92, (other, same)
    assert 0.55 < study.mean() < 0.65
