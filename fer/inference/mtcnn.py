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

The networks are defined here (same layer names, so facenet-pytorch's state dicts load as they
are) because importing `facenet_pytorch` imports torchvision, seconds of start-up that a
one-minute video should not pay.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

PIXELS_PER_CALL = 1 << 17  # P-Net input pixels per call: larger batches fall out of cache
THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net face probability (facenet-pytorch's)


class PNet(nn.Module):
    """Proposal network: fully convolutional, a face probability and box offsets per 12×12."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)


class RNet(nn.Module):
    """Refinement network on 24×24 crops: face probability and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).reshape(len(x), -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)


class ONet(nn.Module):
    """Output network on 48×48 crops: face probability, box offsets and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).reshape(len(x), -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)


def facenet_weights(name: str) -> dict[str, torch.Tensor]:
    """The state dict `name` (pnet, rnet, onet) in facenet-pytorch's wheel; no import of it."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "face detection needs facenet-pytorch: pip install --no-deps facenet-pytorch"
        )
    return torch.load(Path(spec.origin).parent / "data" / f"{name}.pt", weights_only=True)


class BatchedMTCNN:
    """Faces in a batch of same-size RGB uint8 frames (N, H, W, 3): boxes (x1, y1, x2, y2), the
    O-Net probability and five landmarks (eyes, nose, mouth corners; image-left first), as
    facenet-pytorch's `MTCNN(keep_all=True).detect(..., landmarks=True)` finds them."""

    def __init__(
        self,
        min_face_size: int = 20,
        factor: float = 0.709,
        device: str | torch.device = "cpu",
        thresholds: tuple[float, float, float] = THRESHOLDS,
    ) -> None:
        self.device = torch.device(device)
        self.nets = []
        for name, net in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
            module = net()
            module.load_state_dict(facenet_weights(name))
            self.nets.append(module.eval().to(self.device))
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

    @torch.inference_mode()
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
            out = self.nets[stage](crops)
            reg, score = out[0].double().cpu().numpy(), out[-1][:, 1].double().cpu().numpy()
            passed = score > self.thresholds[stage]
            boxes = np.column_stack([boxes[passed, :4], score[passed]])
            image, reg = image[passed], reg[passed]
            if stage == 1:
                keep = nms(boxes, image, 0.7)
                boxes, image = square(regress(boxes[keep], reg[keep], plus_one=True)), image[keep]
            else:
                # Landmarks are fractions of the O-Net input box (x1..x5, y1..y5), as in
                # facenet-pytorch: measured from the box before its regression.
                marks = out[1].double().cpu().numpy()[passed]
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
        reg, prob = self.nets[0](_normalised(level, self.device))
        prob = prob[:, 1].cpu().numpy()
        image, y, x = np.nonzero(prob >= self.thresholds[0])
        offsets = reg.permute(0, 2, 3, 1).cpu().numpy()[image, y, x]
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
    ) -> tuple[torch.Tensor, np.ndarray]:
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
        return _normalised(batch, self.device), cropable


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


def _normalised(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """NHWC pixels → MTCNN's input, (x - 127.5) / 128, an NCHW view of channels-last memory."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(device)
    return ((x - 127.5) * 0.0078125).permute(0, 3, 1, 2)
