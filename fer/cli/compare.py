"""`fer-compare`: one table of a sweep's runs, seed-aware statistics, comparison.csv/.md and plots
(the library: `fer.analysis.compare`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from fer.analysis.compare import (
    STATISTICS_METHOD,
    provenance_lines,
    seed_table,
    statistics,
    statistics_lines,
    swept_axes,
    table_rows,
    wandb_summaries,
    write_outputs,
)
from fer.run.records import best_run, find_runs


def format_table(header: list[str], rows: list[list[str]]) -> str:
    shown = [[Path(r[0]).name, *r[1:]] for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *shown)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in shown]
    return "\n".join(lines)


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-compare",
        description="Compare training runs: one row per run, swept overrides as columns, sorted "
        "by validation accuracy (failed and unfinished runs listed as such). Writes "
        "comparison.csv, comparison.md and plots into the sweep directory and names the best "
        "run by validation accuracy.",
        epilog="example: fer-compare multirun/2026-11-28/10-45-59",
    )
    parser.add_argument("paths", nargs="+", help="sweep directory, run directories or a glob")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="directory for comparison.csv/.md and plots "
        "(default: the first path when it is a directory)",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also write each run's configuration CI, difference from the best and significance "
        "into the run's own W&B summary (offline unless WANDB_MODE=online; then wandb sync)",
    )
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="compare runs whose data files differ (different content hashes); without it "
        "such a comparison is refused",
    )
    args = parser.parse_args(argv)
    try:
        runs = find_runs(args.paths)
    except (FileNotFoundError, ValueError) as e:
        print(f"fer-compare: error: {e}", file=sys.stderr)
        return 1
    if not runs:
        print(
            f"fer-compare: error: no run directories under {' '.join(args.paths)}", file=sys.stderr
        )
        return 1
    print(format_table(*table_rows(runs)))
    if "seed" in swept_axes(runs):
        print("\nper configuration, mean ± std over seeds:\n" + format_table(*seed_table(runs)))
    provenance, mixed = provenance_lines(runs)
    print("\nprovenance:\n" + "\n".join(f"  {line}" for line in provenance))
    if mixed and not args.allow_mixed:
        print(
            "fer-compare: error: the runs were trained on different data (content hashes above); "
            "--allow-mixed compares them anyway",
            file=sys.stderr,
        )
        return 1
    if mixed:
        print("  warning: different data, compared anyway (--allow-mixed)")
    comparisons, effects, missing = statistics(runs)
    print(f"\nstatistics (test accuracy in %; {STATISTICS_METHOD}):")
    print("\n".join(statistics_lines(comparisons, effects, missing, _plain_table)))
    out = args.out or (Path(args.paths[0]) if Path(args.paths[0]).is_dir() else Path("."))
    plots = write_outputs(runs, out, (comparisons, effects, missing))
    done = sum(r.status == "completed" for r in runs)
    print(
        f"\n{done}/{len(runs)} runs completed; wrote {out / 'comparison.csv'}, comparison.md "
        f"and {len(plots)} plots"
    )
    best = best_run(runs)
    if best is not None:
        print(f"best by val acc ({best.get('val', 'acc'):.4f}): {best.path}")
    if args.wandb:
        from fer.analysis.wandb_log import update_summary  # only with --wandb

        summaries = wandb_summaries(runs, comparisons)
        updated = sum(
            update_summary(path, values)
            for path, values in tqdm(summaries.items(), desc="W&B summaries", unit="run")
        )
        print(f"added the statistics to {updated} of {len(summaries)} runs' W&B summaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
