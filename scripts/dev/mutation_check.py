"""Break one behaviour at a time and confirm the test suite notices: a check that the tests
guard what matters (resuming a run and a sweep job, last.ckpt, the sweep's axes, safe loading,
framing, prediction alignment, seed-aware verdicts), not a test itself.

    python scripts/dev/mutation_check.py            # every mutation, its tests, a table at the end
    python scripts/dev/mutation_check.py --list     # what each mutation breaks
    python scripts/dev/mutation_check.py resume     # one by name

Each mutation edits one line of a copy of the working tree (its tracked and unignored files, in
a temporary folder beside a link to ../shared), runs the tests that should catch it there
(`pytest -x -q`, the copy's `fer` first on the path), and deletes the copy. The working tree is
never edited, so a mutation check killed halfway leaves nothing broken behind. "caught" means
the tests failed. Exit status 1 if any mutation survived.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "resume",
        "trainer.fit ignores the checkpoint: a resumed run starts over",
        "fer/train.py",
        "trainer.fit(system, datamodule=data, ckpt_path=resume_from, weights_only=True)",
        "trainer.fit(system, datamodule=data, ckpt_path=None, weights_only=True)",
        ("tests/test_training.py::test_resume_continues_from_last_checkpoint",),
    ),
    Mutation(
        "resume-sweep",
        "a re-run sweep trains its interrupted job again from scratch",
        "fer/run/lifecycle.py",
        "cfg.resume = str(run_dir)",
        "cfg.resume = None",
        (
            "tests/test_sweep_resume.py::"
            "test_rerun_sweep_skips_completed_jobs_and_resumes_the_interrupted_one",
        ),
    ),
    Mutation(
        "last-checkpoint",
        "last.ckpt is Lightning's save_last (copied only on improvement): a resume goes back",
        "fer/train.py",
        "    callbacks: list[L.Callback] = [checkpoint, last_checkpoint(run_dir), stats]",
        "    checkpoint.save_last = True\n    callbacks: list[L.Callback] = [checkpoint, stats]",
        (
            "tests/test_training.py::test_last_checkpoint_is_the_last_epoch_even_without_improvement",
        ),
    ),
    Mutation(
        "atomic-checkpoint",
        "checkpoints are overwritten in place (Lightning's own saving)",
        "fer/run/lifecycle.py",
        "        plugins=[AtomicCheckpointIO()],",
        "",
        (
            "tests/test_hostile.py::test_a_disk_that_fills_during_training_leaves_a_whole_last_checkpoint_to_resume",
        ),
    ),
    Mutation(
        "norm-axis",
        "model.norm=none builds batch norm anyway",
        "fer/models/layers.py",
        'if name == "batch":',
        'if name in ("batch", "none"):',
        ("tests/test_sweep_axes.py",),
    ),
    Mutation(
        "activation-axis",
        "every activation is ReLU",
        "fer/models/layers.py",
        '"gelu": nn.GELU,',
        '"gelu": nn.ReLU,',
        ("tests/test_sweep_axes.py",),
    ),
    Mutation(
        "safe-loading",
        "checkpoints load with pickle allowed",
        "fer/checkpoint.py",
        'checkpoint = torch.load(path, map_location="cpu", weights_only=True)',
        'checkpoint = torch.load(path, map_location="cpu", weights_only=False)',
        ("tests/test_safe_loading.py",),
    ),
    Mutation(
        "framing",
        "detected faces are cut with a 10% wider square",
        "fer/framing.py",
        "cx, cy, side, angle = square",
        "cx, cy, side, angle = square[0], square[1], square[2] * 1.1, square[3]",
        ("tests/test_framing.py",),
    ),
    Mutation(
        "alignment",
        "per-image predictions are written against the wrong faces' indices",
        "fer/train.py",
        'evaluated = dataset.index[: len(predictions[split]["labels"])]',
        'evaluated = dataset.index[::-1][: len(predictions[split]["labels"])]',
        ("tests/test_debug_runs.py",),
    ),
    Mutation(
        "two-seeds",
        "a comparison with two seeds a side gets a test and can be significant",
        "fer/analysis/stats.py",
        "MIN_SEEDS = 3",
        "MIN_SEEDS = 2",
        ("tests/test_stats.py",),
    ),
    Mutation(
        "images-only",
        "the comparison's interval resamples test images only, not blocks",
        "fer/analysis/stats.py",
        "out[start : start + k] = mean + factor * (blocks - mean) + (faces - mean)",
        "out[start : start + k] = columns[rng.integers(0, images, (k, images))].mean(axis=1)",
        ("tests/test_calibration.py",),
    ),
    Mutation(
        "unpaired",
        "the test over blocks ignores the pairing (Welch's over independent runs)",
        "fer/analysis/stats.py",
        "return float(stats.ttest_rel(a, b).pvalue)",
        "return float(stats.ttest_ind(a, b, equal_var=False).pvalue)",
        ("tests/test_calibration.py",),
    ),
    Mutation(
        "z-test",
        "the test over blocks is a z-test with the ddof=0 standard deviation",
        "fer/analysis/stats.py",
        "return float(stats.ttest_rel(a, b).pvalue)",
        "return float(2 * stats.norm.sf(abs(d.mean()) / (d.std() / np.sqrt(len(d)))))",
        ("tests/test_calibration.py",),
    ),
    Mutation(
        "no-holm",
        "the family's p-values are not corrected for multiplicity",
        "fer/analysis/stats.py",
        "for r, p in zip(tested, holm([r.p for r in tested])):",
        "for r, p in zip(tested, [r.p for r in tested]):",
        ("tests/test_calibration.py",),
    ),
)


def run(mutation: Mutation) -> tuple[bool, float]:
    """Apply to a copy, test the copy, delete it: (caught, seconds)."""
    original = (ROOT / mutation.path).read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(
            f"mutation_check.py: error: {mutation.name}: the line to break is not in "
            f"{mutation.path} exactly once (the code changed: update the mutation)"
        )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / ROOT.name
        _copy_tree(copy)
        (Path(tmp) / "shared").symlink_to(ROOT.parent / "shared")
        (copy / mutation.path).write_text(original.replace(mutation.old, mutation.new))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *mutation.tests],
            cwd=copy,
            env=os.environ | {"PYTHONPATH": str(copy)},
            capture_output=True,
            text=True,
        )
    return result.returncode != 0, time.perf_counter() - start


def _copy_tree(copy: Path) -> None:
    """The working tree's tracked and unignored files, as they are now, under `copy`; the
    ignored data (data/fer2013.h5 and the like) linked, not copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    if (ROOT / "data").is_dir() and not (copy / "data").exists():
        (copy / "data").symlink_to(ROOT / "data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mutation_check.py",
        description="Break one behaviour at a time (resume, axes, safe loading, framing, "
        "prediction alignment, seed-aware verdicts) and confirm the tests that guard it fail.",
        epilog="example: python scripts/dev/mutation_check.py resume norm-axis",
    )
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTATIONS}
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:16} {m.what} ({m.path}; {' '.join(m.tests)})")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(
            f"mutation_check.py: error: unknown mutation {', '.join(unknown)}; "
            f"known: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    chosen = [known[n] for n in args.names] or list(MUTATIONS)
    survived = []
    for i, mutation in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {mutation.name}: {mutation.what} ...", flush=True)
        caught, seconds = run(mutation)
        print(f"    {'caught' if caught else 'SURVIVED'} in {seconds:.0f} s", flush=True)
        if not caught:
            survived.append(mutation.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    if survived:
        print(f"survived: {', '.join(survived)}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
