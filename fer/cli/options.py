"""Options that several command-line tools share, written once."""

from __future__ import annotations

import argparse

from fer.checkpoint import TTA_MODES

TTA_HELP = (
    "test-time augmentation: none, flip (2 views) or crops (10 views); default: the model's own "
    "choice, made on PublicTest (crops for the shipped model, none for a run)"
)


def add_tta(parser: argparse.ArgumentParser, help: str = TTA_HELP) -> None:
    """`--tta {none,flip,crops}`, default None (the model's own choice)."""
    parser.add_argument("--tta", choices=TTA_MODES, help=help)
