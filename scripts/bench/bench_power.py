"""The power of the study's design: how often a true difference of 1 or 2 points of accuracy is
called, on simulated studies with the committed runs' structure (fer.analysis.simulate), per
comparison (paired t over blocks, alpha 0.05) and inside a Holm family of 12 comparisons.

    python scripts/bench/bench_power.py [--studies 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from fer.analysis import simulate
from fer.analysis.stats import ALPHA, block_test, holm


def power(blocks: int, shift: float, seed_points: float, studies: int, family: int) -> tuple:
    """(alone, in a Holm family of `family`): the share of studies whose first alternative, a
    true `shift` points better, is called."""
    rng = np.random.default_rng(0)
    design = simulate.Design(alternatives=family, blocks=blocks, seed_points=seed_points)
    acc = simulate.run_accuracies(rng, studies, design)
    acc[:, 1] += simulate.true_difference(shift)  # the one real effect; the others are null
    alone = corrected = 0
    for study in acc:
        p = [block_test(study[k], study[0]) for k in range(1, family + 1)]
        alone += p[0] < ALPHA
        corrected += holm(p)[0] < ALPHA
    return alone / studies, corrected / studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies a cell")
    args = parser.parse_args()
    cells = [(b, d, s) for b in (3, 5) for d in (1.0, 2.0) for s in (0.3, 0.6, 1.0)]
    print("blocks  true diff (points)  seed noise (points)  power alone  power in Holm of 12")
    for blocks, shift, seed in tqdm(cells, desc="designs", leave=False):
        alone, corrected = power(blocks, shift, seed, args.studies, 12)
        print(f"{blocks:>6}  {shift:>18.1f}  {seed:>19.1f}  {alone:>11.2f}  {corrected:>19.2f}")


if __name__ == "__main__":
    main()
