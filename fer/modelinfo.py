"""What a saved model says about itself (`ModelInfo`) and the test-time augmentations it can
use: plain data, no torch, so a checkpoint, a .safetensors file and an ONNX export are read
into the same description and the onnxruntime path needs nothing heavier."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

# The model that ships inside the package, as weights (torch) and as its ONNX export
# (onnxruntime: the same ensemble, `fer-export` of the first); either may be absent in a build.
DEFAULT_MODEL = Path(str(files("fer") / "assets" / "default.safetensors"))
DEFAULT_ONNX = Path(str(files("fer") / "assets" / "default.onnx"))


class CheckpointError(Exception):
    """A path that is not a usable fer checkpoint, model file or run directory."""


TTA_VIEWS = {"none": 1, "flip": 2, "crops": 10}  # test-time augmentation: views of each face
TTA_MODES = tuple(TTA_VIEWS)


@dataclass(frozen=True)
class ModelInfo:
    classes: list[str]
    input_size: int
    mean: float
    std: float
    model: dict[str, Any]  # the model config that build_model takes
    # How inference cuts a face from a detection (fer.framing.Framing's fields); None in files
    # written before framing was stored: those models were trained on FER2013, whose it is.
    framing: dict[str, Any] | None = None
    channels: int = 1  # 1: grey faces, 3: RGB (files before it: grey)
    equalized: bool = False  # faces histogram-equalised before standardising (files before: no)
    # The test-time augmentation chosen with the model on PublicTest (none | flip | crops): what
    # tools use when not told otherwise. Checkpoints and older files: none.
    tta: str = "none"
