"""`fer-export`: a run, a checkpoint, a kept member or the shipped model as one ONNX file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer.data.hdf5 import DatasetError
from fer.modelinfo import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-export",
        description="Export a model as one ONNX file (dynamic batch; an ensemble as one graph) "
        "that takes face crops as 0..255 pixels and returns the probabilities, with the "
        "classes, input size, normalisation, framing, TTA and the source's card in its "
        "metadata. The export checks itself: onnxruntime and torch must agree to 1e-4 on the "
        "same faces, or nothing is written.",
        epilog="example: fer-export --model outputs/2026-11-28/11-10-19 -o model.onnx",
    )
    parser.add_argument(
        "--model",
        help="run directory, checkpoint or .safetensors (default: the shipped model)",
    )
    parser.add_argument("-o", "--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument(
        "--data",
        type=Path,
        help="check on the first --faces PublicTest faces of this HDF5 file (default: seeded "
        "random faces)",
    )
    parser.add_argument("--faces", type=int, default=64, help="faces to check on (default 64)")
    args = parser.parse_args(argv)
    from fer.inference.onnx_export import ExportError, export_onnx  # torch: after --help

    try:
        if args.faces < 1:
            raise ValueError(f"--faces must be at least 1, got {args.faces}")
        faces = None
        if args.data is not None:
            from fer.data.hdf5 import read_split  # h5py: only when checking on real faces

            faces = read_split(args.data, "PublicTest")[0][: args.faces]
        result = export_onnx(args.model, args.out, faces)
    except (CheckpointError, DatasetError, ExportError, ValueError, OSError) as e:
        print(f"fer-export: error: {e}", file=sys.stderr)
        return 1
    size = result["path"].stat().st_size / 1e6
    print(
        f"wrote {result['path']} ({size:.1f} MB): onnxruntime agrees with torch to "
        f"{result['max_difference']:.1e} on {result['faces']} faces"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
