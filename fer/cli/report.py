"""`fer-report`: the study report (REPORT.md and its RUNS.md appendix) from study parts, notes and
the final model's folder (the library: `fer.analysis.report`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer.analysis.report import APPENDIX, NOTE_KEYS, build_report, prose_words, read_notes
from fer.io import atomic_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-report",
        description="Write a Markdown report of a sweep or of several (a study's parts), in the "
        "order an assignment asks: setup, the study's tables with seed-aware statistics, filter "
        "sizes, ViT/pretrained/self-supervised, the final model's metrics, inside the network, "
        f"real videos, reflections; every run's numbers go to {APPENDIX} beside the report.",
        epilog="example: fer-report multirun/2026-11-28/10-45-59 -o REPORT.md",
    )
    parser.add_argument(
        "sweeps",
        type=Path,
        nargs="+",
        help="sweep directory (multirun/<date>/<time>), or a study's parts (docs/study/grid ...)",
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("REPORT.md"), help="report file (default REPORT.md)"
    )
    parser.add_argument(
        "--notes",
        type=Path,
        help="your prose, a Markdown file with sections "
        + ", ".join(f"'## {k}'" for k in NOTE_KEYS)
        + " (each optional) that fill the report's places for observations",
    )
    parser.add_argument(
        "--final",
        type=Path,
        help="the final model's folder: eval/ (fer-eval), viz/ (fer-viz), video/<clip>/ "
        "(fer-video) and video/labels.csv; default: the best run by validation accuracy",
    )
    parser.add_argument(
        "--viz",
        type=Path,
        help="without --final: a fer-viz folder to show when the chosen run has no figures",
    )
    args = parser.parse_args(argv)
    try:
        for name in ("viz", "final"):
            folder = getattr(args, name)
            if folder is not None and not folder.is_dir():
                raise FileNotFoundError(f"{folder}: no such --{name} folder")
        notes = read_notes(args.notes) if args.notes else {}
        text = build_report(args.sweeps, args.out, notes, args.viz, args.final)
    except (FileNotFoundError, ValueError) as e:
        print(f"fer-report: error: {e}", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(
        f"wrote {args.out} ({prose_words(text)} words of prose, {len(text.split())} in all) "
        f"and {args.out.parent / APPENDIX}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
