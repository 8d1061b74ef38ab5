"""MTCNN's three networks in torch (P-Net, R-Net, O-Net), with facenet-pytorch's weights, and
their export to ONNX (the files fer ships in fer/assets/mtcnn/, for detection without torch).

The networks are defined here (same layer names, so facenet-pytorch's state dicts load as they
are) because importing `facenet_pytorch` imports torchvision, seconds of start-up that a
one-minute video should not pay. The weights are facenet-pytorch's (MIT licence; they ship in
its wheel and load with `weights_only`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

NETS = ("pnet", "rnet", "onet")
OPSET = 17
# Each network's outputs, in order: box offsets, (O-Net: landmarks,) face probability.
OUTPUTS = {
    "pnet": ("offsets", "prob"),
    "rnet": ("offsets", "prob"),
    "onet": ("offsets", "landmarks", "prob"),
}


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
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).flatten(1)
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
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).flatten(1)
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


def load_nets(device: str | torch.device = "cpu") -> list[nn.Module]:
    """P-Net, R-Net and O-Net with facenet-pytorch's weights, in eval mode on `device`."""
    nets = []
    for name, net in zip(NETS, (PNet, RNet, ONet)):
        module = net()
        module.load_state_dict(facenet_weights(name))
        nets.append(module.eval().to(device))
    return nets


def export_onnx(out_dir: Path) -> list[Path]:
    """The three networks as ONNX files in `out_dir` (dynamic batch; P-Net also any height and
    width), written atomically; returns their paths."""
    from fer.io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, net, side in zip(NETS, load_nets(), (12, 24, 48)):
        axes = {0: "batch", 2: "height", 3: "width"} if name == "pnet" else {0: "batch"}
        dynamic = {"pixels": axes} | {o: {0: "batch"} for o in OUTPUTS[name]}
        path = out_dir / f"{name}.onnx"
        with atomic_path(path) as tmp, torch.no_grad():
            torch.onnx.export(
                net,
                (torch.zeros(1, 3, side, side),),
                str(tmp),
                input_names=["pixels"],
                output_names=list(OUTPUTS[name]),
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        written.append(path)
    return written
