"""Options that several command-line tools share, written once."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

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


def output_problem(path: Path, folder: bool = False) -> str | None:
    """Why `path` cannot be written (checked before any work, so nothing is computed for
    nothing), or None: a file where a folder is wanted or the reverse, a parent that is not a
    folder, a place that is not writable. `folder`: `path` is a folder to write into."""
    if folder and path.exists() and not path.is_dir():
        return f"{path}: is a file; a folder is wanted"
    if not folder and path.is_dir():
        return f"{path}: is a folder; a file is wanted"
    nearest = (path, *path.parents) if folder else path.parents  # what will hold the output
    parent = next((p for p in nearest if p.exists()), Path("."))
    if not parent.is_dir():
        return f"{parent}: is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent}: not writable"
    return None


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
