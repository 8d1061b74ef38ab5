"""Export MTCNN's three networks (facenet-pytorch's weights) to ONNX, into fer/assets/mtcnn/.

    python scripts/release/export_mtcnn.py [--out fer/assets/mtcnn]

fer ships the files, so face detection runs on onnxruntime without torch
(`FaceDetector(runtime="onnx")`). The export checks itself: on a few real frames, boxes found
with the ONNX networks and with torch's must overlap by IoU >= 0.99.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fer.inference.mtcnn import ONNX_DIR, BatchedMTCNN
from fer.inference.mtcnn_nets import export_onnx
from fer.inference.tracking import iou


def check(folder: Path, frames: np.ndarray) -> float:
    """The smallest IoU between a torch box and the ONNX box that matches it (1.0: none found)."""
    torch_found = BatchedMTCNN().detect(frames)
    onnx_found = BatchedMTCNN(runtime="onnx", onnx_dir=folder).detect(frames)
    worst = 1.0
    for (a, _, _), (b, _, _) in zip(torch_found, onnx_found):
        if len(a) != len(b):
            return 0.0
        for box in a:
            worst = min(worst, max(iou(box, other) for other in b))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ONNX_DIR, help=f"folder (default {ONNX_DIR})")
    args = parser.parse_args(argv)
    try:
        paths = export_onnx(args.out)
    except (OSError, ModuleNotFoundError) as e:
        print(f"export_mtcnn: error: {e}", file=sys.stderr)
        return 1
    from skimage import data

    frames = np.stack([data.astronaut(), np.ascontiguousarray(data.astronaut()[:, ::-1])])
    worst = check(args.out, frames)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in paths)
    print(f"wrote {sizes}; smallest IoU against torch's boxes {worst:.4f}")
    return 0 if worst >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
