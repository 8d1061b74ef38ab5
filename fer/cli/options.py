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


def add_runtime(parser: argparse.ArgumentParser, shipped_on_onnx: bool = False) -> None:
    """`--runtime {torch,onnx}`, default None (fer.inference.loading.choose_runtime decides;
    `shipped_on_onnx`: the tool runs the shipped model on onnxruntime by default)."""
    shipped = "the shipped model, " if shipped_on_onnx else ""
    parser.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        help="what runs the networks: torch, or onnxruntime (a .onnx file from fer-export; "
        f"the shipped model has one); default: onnx for {shipped}a .onnx model or where torch "
        "is not installed, else torch",
    )
