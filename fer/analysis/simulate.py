"""Simulated studies with the structure of the committed runs, for calibrating fer's statistics
(tests/test_calibration.py) and sizing a design (scripts/bench/bench_power.py).

A study is one baseline and `alternatives` other configurations, each trained in `blocks`
blocks, scored on the same `faces` test faces. Whether run r gets face i right is a Bernoulli
draw with logit

    hardness[i] + block[k] + run[c, k] + face_block[k, i] + shift[c]

- `hardness`: how hard each face is, shared by every run (so runs agree on most faces);
- `block`: the whole-run offset of block k (its seed), shared by all its configurations;
- `run`: each run's own whole-run component, `seed_points` of accuracy (sd);
- `face_block`: a per-face effect of the seed (same-seed runs agree on more faces);
- `shift`: the configuration's true effect, `shift_points` of accuracy for each alternative.

The defaults reproduce the committed runs: about 60% accuracy, two runs of different seeds
agreeing on about 86% of faces, of the same seed on about 89%.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

HARDNESS = (2.0, 7.5)  # mean and sd of the faces' logits
FACE_BLOCK_SD = 1.5  # logits: the seed's per-face effect
SLOPE_FACES = 200_000  # faces drawn to turn points of accuracy into logits


def accuracy(logit_shift: float, rng: np.random.Generator) -> float:
    """The population accuracy of a run at this shift of every logit."""
    h = rng.normal(*HARDNESS, SLOPE_FACES) + rng.normal(0, FACE_BLOCK_SD, SLOPE_FACES)
    return float(np.mean(1 / (1 + np.exp(-(h + logit_shift)))))


def logits_per_point(rng: np.random.Generator | None = None) -> float:
    """Logits that move the population accuracy by one point (near the default)."""
    rng = rng or np.random.default_rng(0)
    step = 0.05
    return step / (100 * (accuracy(step, rng) - accuracy(-step, np.random.default_rng(0))) / 2)


@dataclass(frozen=True)
class Design:
    """A simulated study's shape and noise (see the module's docstring)."""

    alternatives: int = 12  # configurations besides the baseline
    blocks: int = 5
    faces: int = 3589
    seed_points: float = 0.6  # sd of a run's whole-run component, points of accuracy
    block_points: float = 0.5  # sd of a block's offset, shared by its configurations
    shift_points: float = 0.0  # each alternative's true effect

    @property
    def configs(self) -> int:
        return 1 + self.alternatives

    def shift(self, per_point: float) -> np.ndarray:
        """The configurations' true effects in logits, shaped (1, configs, 1, 1)."""
        shift = np.zeros((1, self.configs, 1, 1), np.float32)
        shift[0, 1:] = self.shift_points * per_point
        return shift


def studies(
    rng: np.random.Generator, count: int, design: Design = Design(), chunk: int = 50
) -> Iterator[np.ndarray]:
    """`count` studies in chunks: bool arrays (studies, 1 + alternatives, blocks, faces), the
    baseline first."""
    per_point = logits_per_point()
    configs, blocks, faces = design.configs, design.blocks, design.faces
    block_points, seed_points = design.block_points, design.seed_points
    shift = design.shift(per_point)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        logits = (
            rng.normal(*HARDNESS, (n, 1, 1, faces))
            + rng.normal(0, block_points * per_point, (n, 1, blocks, 1))
            + rng.normal(0, seed_points * per_point, (n, configs, blocks, 1))
            + rng.normal(0, FACE_BLOCK_SD, (n, 1, blocks, faces))
            + shift
        )
        yield rng.random(logits.shape, dtype=np.float32) < 1 / (1 + np.exp(-logits))


def true_difference(shift_points: float) -> float:
    """The population accuracy of an alternative minus the baseline's (0..1), for coverage."""
    per_point = logits_per_point()
    return accuracy(shift_points * per_point, np.random.default_rng(1)) - accuracy(
        0.0, np.random.default_rng(1)
    )


def run_accuracies(
    rng: np.random.Generator, count: int, design: Design = Design(), chunk: int = 100
) -> np.ndarray:
    """The run accuracies (count, 1 + alternatives, blocks) of the same model as `studies`,
    without drawing every face: a run's accuracy is the mean of its faces' probabilities plus
    the normal noise of their Bernoulli draws (sd sqrt(sum p(1 - p)) / faces), which is what
    the tests over blocks see. Thousands of studies in seconds."""
    per_point = logits_per_point()
    configs, blocks, faces = design.configs, design.blocks, design.faces
    block_points, seed_points = design.block_points, design.seed_points
    shift = design.shift(per_point)
    out = []
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        base = rng.normal(*HARDNESS, (n, 1, 1, faces)) + rng.normal(
            0, FACE_BLOCK_SD, (n, 1, blocks, faces)
        )
        offsets = (
            rng.normal(0, block_points * per_point, (n, 1, blocks, 1))
            + rng.normal(0, seed_points * per_point, (n, configs, blocks, 1))
            + shift
        )
        p = 1 / (1 + np.exp(-(base.astype(np.float32) + offsets.astype(np.float32))))
        mean = p.mean(axis=-1)
        sd = np.sqrt((p * (1 - p)).sum(axis=-1)) / faces
        out.append(mean + sd * rng.standard_normal(mean.shape))
    return np.concatenate(out)
