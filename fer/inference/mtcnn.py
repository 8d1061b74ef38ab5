"""MTCNN face detection batched over video frames, with facenet-pytorch's weights.

The three networks (P-Net, R-Net, O-Net) and their weights are facenet-pytorch's (MIT licence;
the weights ship in its wheel and load with `weights_only`), and so are the thresholds and the
box arithmetic. facenet-pytorch's own `MTCNN.detect` resizes every pyramid level and every
candidate box with torch's `interpolate(mode="area")`, one call per box, and runs P-Net over the
whole batch at full size; on a CPU that makes a batch of frames no faster per frame than one
frame at a time. This driver lays the same work out differently:

- pyramid levels and candidate crops are resized with OpenCV's area interpolation (what the
  original MTCNN code uses), each level from the one above it;
- P-Net runs channels-last over as many frames per call as keep one call near
  `PIXELS_PER_CALL` input pixels (many frames at the small levels, few at the large ones);
- R-Net and O-Net run once per stage over the candidates of every frame in the batch.

The networks run on torch (`fer.inference.mtcnn_nets`, facenet-pytorch's weights) or on
onnxruntime (`runtime="onnx"`: the same networks exported to fer/assets/mtcnn/, so detection
needs no torch); everything around them is numpy and OpenCV.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import cv2
import numpy as np

PIXELS_PER_CALL = 1 << 17  # P-Net input pixels per call: larger batches fall out of cache
THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net face probability (facenet-pytorch's)
ONNX_DIR = Path(str(files("fer") / "assets" / "mtcnn"))  # pnet.onnx, rnet.onnx, onet.onnx
RUNTIMES = ("torch", "onnx")


class TorchNets:
    """The three networks on torch: MTCNN-normalised NHWC float32 in, numpy outputs out."""

    def __init__(self, device: Any = "cpu") -> None:
        import torch

        from fer.inference.mtcnn_nets import load_nets

        self.torch, self.device = torch, torch.device(device)
        self.nets = load_nets(self.device)

    def __call__(self, stage: int, x: np.ndarray) -> list[np.ndarray]:
        with self.torch.inference_mode():
            pixels = self.torch.from_numpy(x).to(self.device).permute(0, 3, 1, 2)  # channels-last
            return [out.float().cpu().numpy() for out in self.nets[stage](pixels)]


class OnnxNets:
    """The same networks on onnxruntime, from the ONNX files fer ships (no torch needed)."""

    def __init__(self, folder: Path = ONNX_DIR) -> None:
        from fer.inference.onnx_session import cpu_session

        self.sessions = []
        for name in ("pnet", "rnet", "onet"):
            path = folder / f"{name}.onnx"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: MTCNN's ONNX files are missing from this installation "
                    "(python scripts/release/export_mtcnn.py writes them)"
                )
            self.sessions.append(cpu_session(path, "face detection on onnxruntime"))

    def __call__(self, stage: int, x: np.ndarray) -> list[np.ndarray]:
        pixels = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return self.sessions[stage].run(None, {"pixels": pixels})


class BatchedMTCNN:
    """Faces in a batch of same-size RGB uint8 frames (N, H, W, 3): boxes (x1, y1, x2, y2), the
    O-Net probability and five landmarks (eyes, nose, mouth corners; image-left first), as
    facenet-pytorch's `MTCNN(keep_all=True).detect(..., landmarks=True)` finds them."""

    def __init__(
        self,
        min_face_size: int = 20,
        factor: float = 0.709,
        device: Any = "cpu",
        thresholds: tuple[float, float, float] = THRESHOLDS,
        runtime: str = "torch",
        onnx_dir: Path = ONNX_DIR,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; valid choices: {', '.join(RUNTIMES)}")
        self.runtime = runtime
        self.nets = TorchNets(device) if runtime == "torch" else OnnxNets(onnx_dir)
        self.min_face_size, self.factor, self.thresholds = min_face_size, factor, thresholds

    def scales(self, height: int, width: int) -> list[float]:
        """The image pyramid: scale 12/min_face_size, shrinking by `factor` while P-Net fits."""
        scale, scales = 12.0 / self.min_face_size, []
        side = min(height, width) * scale
        while side >= 12:
            scales.append(scale)
            scale *= self.factor
            side *= self.factor
        return scales

    def detect(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame, `(boxes (k, 4), probs (k,), landmarks (k, 5, 2))` in pixels, in no
        particular order; landmarks are (x, y) of the left eye, right eye, nose, left and right
        mouth corner, as they appear in the image."""
        frames = frames.astype(np.float32)  # resized in float, as facenet-pytorch does
        boxes, image = self._propose(frames)
        points = np.zeros((0, 5, 2))
        for stage, side in ((1, 24), (2, 48)):
            crops, cropable = self._crops(frames, boxes, image, side)
            boxes, image = boxes[cropable], image[cropable]
            if not len(boxes):
                break
            out = self.nets(stage, crops)
            reg, score = out[0].astype(np.float64), out[-1][:, 1].astype(np.float64)
            passed = score > self.thresholds[stage]
            boxes = np.column_stack([boxes[passed, :4], score[passed]])
            image, reg = image[passed], reg[passed]
            if stage == 1:
                keep = nms(boxes, image, 0.7)
                boxes, image = square(regress(boxes[keep], reg[keep], plus_one=True)), image[keep]
            else:
                # Landmarks are fractions of the O-Net input box (x1..x5, y1..y5), as in
                # facenet-pytorch: measured from the box before its regression.
                marks = out[1].astype(np.float64)[passed]
                side = boxes[:, 2:4] - boxes[:, 0:2] + 1  # (k, 2): width, height
                points = marks.reshape(-1, 2, 5).transpose(0, 2, 1) * side[:, None]
                points += boxes[:, None, 0:2] - 1
                boxes = regress(boxes, reg, plus_one=True)
                keep = nms(boxes, image, 0.7, over_smaller=True)
                boxes, image, points = boxes[keep], image[keep], points[keep]
        return [
            (boxes[image == i, :4], boxes[image == i, 4], points[image == i])
            for i in range(len(frames))
        ]

    def _propose(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1: P-Net over the pyramid; square candidates (x1, y1, x2, y2, p), frame index."""
        n, height, width = frames.shape[:3]
        found, found_image = [np.zeros((0, 9))], [np.zeros(0, np.int64)]
        level = frames
        for scale in self.scales(height, width):
            size = (int(width * scale + 1), int(height * scale + 1))
            level = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in level])
            step = max(1, PIXELS_PER_CALL // (size[0] * size[1]))
            cells = [
                self._cells(level[start : start + step], scale, start)
                for start in range(0, n, step)
            ]
            boxes = np.concatenate([c[0] for c in cells])
            image = np.concatenate([c[1] for c in cells])
            keep = nms(boxes, image, 0.5)
            found.append(boxes[keep])
            found_image.append(image[keep])
        boxes, image = np.concatenate(found), np.concatenate(found_image)
        keep = nms(boxes, image, 0.7)
        boxes, image = boxes[keep], image[keep]
        return square(regress(boxes[:, :5], boxes[:, 5:9], plus_one=False)), image

    def _cells(self, level: np.ndarray, scale: float, first: int) -> tuple[np.ndarray, np.ndarray]:
        """P-Net's 12×12 windows over `level` that pass its threshold, as boxes in frame pixels
        (x1, y1, x2, y2, p, 4 offsets), and their frame index (counting from `first`)."""
        reg, prob = self.nets(0, _normalised(level))
        prob = prob[:, 1]
        image, y, x = np.nonzero(prob >= self.thresholds[0])
        offsets = reg.transpose(0, 2, 3, 1)[image, y, x]
        corner = np.column_stack([x, y]).astype(np.float64)
        boxes = np.column_stack(
            [
                np.floor((2 * corner + 1) / scale),
                np.floor((2 * corner + 12) / scale),
                prob[image, y, x],
                offsets,
            ]
        )
        return boxes, image + first

    def _crops(
        self, frames: np.ndarray, boxes: np.ndarray, image: np.ndarray, side: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each candidate's region, clipped to the frame (as facenet-pytorch's `pad`), resized to
        side × side; and which candidates had a region (those wholly outside have none)."""
        height, width = frames.shape[1:3]
        x1, y1, x2, y2 = np.trunc(boxes[:, :4]).astype(np.int64).T
        x1, y1 = np.maximum(x1, 1), np.maximum(y1, 1)
        x2, y2 = np.minimum(x2, width), np.minimum(y2, height)
        cropable = (y2 >= y1) & (x2 >= x1)
        crops = [
            cv2.resize(
                frames[image[k], y1[k] - 1 : y2[k], x1[k] - 1 : x2[k]],
                (side, side),
                interpolation=cv2.INTER_AREA,
            )
            for k in np.flatnonzero(cropable)
        ]
        batch = np.stack(crops) if crops else np.zeros((0, side, side, 3), np.float32)
        return _normalised(batch), cropable


def regress(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool) -> np.ndarray:
    """Move each corner by its offset times the box side (R-Net and O-Net count sides +1)."""
    side = boxes[:, 2:4] - boxes[:, 0:2] + (1 if plus_one else 0)
    moved = boxes[:, :4] + offsets * np.tile(side, 2)
    return np.column_stack([moved, boxes[:, 4]])


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square around its centre (side = its longer side)."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    longest = size.max(axis=1, keepdims=True)
    corner = boxes[:, 0:2] + size / 2 - longest / 2
    return np.column_stack([corner, corner + longest, boxes[:, 4]])


def nms(
    boxes: np.ndarray, image: np.ndarray, threshold: float, over_smaller: bool = False
) -> np.ndarray:
    """Greedy non-maximum suppression within each frame: indices of the boxes kept, best first.

    Overlap is intersection over union, or over the smaller box (`over_smaller`, MTCNN's last
    step); a box overlapping a better one by more than `threshold` is dropped."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    # Shift each frame's boxes apart so that boxes of different frames never overlap.
    shifted = boxes[:, :4] + (image * (np.ptp(boxes[:, :4]) + 1))[:, None]
    x1, y1, x2, y2 = shifted.T
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(-boxes[:, 4], kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        base = (
            np.minimum(area[best], area[rest]) if over_smaller else area[best] + area[rest] - inter
        )
        order = rest[inter <= threshold * np.maximum(base, 1e-9)]
    return np.asarray(keep, np.int64)


def _normalised(images: np.ndarray) -> np.ndarray:
    """NHWC pixels → MTCNN's input, (x - 127.5) / 128, NHWC float32."""
    return (np.asarray(images, dtype=np.float32) - 127.5) * 0.0078125
