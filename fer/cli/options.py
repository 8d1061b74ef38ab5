"""Options that several command-line tools share, written once."""

from __future__ import annotations

import argparse
import math

from fer.modelinfo import TTA_MODES

TTA_HELP = (
    "test-time augmentation: none, flip (2 views) or crops (10 views); default: the model's own "
    "choice, made on PublicTest (crops for the shipped model, none for a run)"
)


def finite(text: str) -> float:
    """An argparse type: a float that is a number (`nan`, `inf` are refused in one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


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
