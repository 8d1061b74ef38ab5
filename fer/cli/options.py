"""Options that several command-line tools share, written once."""

from __future__ import annotations

import argparse

from fer.modelinfo import TTA_MODES

TTA_HELP = (
    "test-time augmentation: none, flip (2 views) or crops (10 views); default: the model's own "
    "choice, made on PublicTest (crops for the shipped model, none for a run)"
)


def add_tta(parser: argparse.ArgumentParser, help: str = TTA_HELP) -> None:
    """`--tta {none,flip,crops}`, default None (the model's own choice)."""
    parser.add_argument("--tta", choices=TTA_MODES, help=help)


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """`--runtime {torch,onnx}`, default None (a .onnx model or no torch installed: onnx)."""
    parser.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        help="what runs the networks: torch, or onnxruntime (a .onnx file from fer-export; "
        "the shipped model has one); default: onnx for a .onnx model or where torch is not "
        "installed, else torch",
    )
