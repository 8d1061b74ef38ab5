"""What a saved model says about itself (`ModelInfo`) and the test-time augmentations it can
use: plain data, no torch, so a checkpoint, a .safetensors file and an ONNX export are read
into the same description and the onnxruntime path needs nothing heavier."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
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
MAX_INPUT_SIZE = 1024  # the largest face side a model file may ask for (FER2013: 48, ViTs: 224)
MAX_CLASSES = 1000
FORMAT_VERSION = 1  # of the `fer` metadata in checkpoints and model files; newer ones are refused
REQUIRED = ("classes", "input_size", "mean", "std", "model")


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

    @classmethod
    def from_dict(cls, meta: Any) -> ModelInfo:
        """The ModelInfo of a checkpoint's or .safetensors file's `fer` metadata. ValueError
        (one line) for a missing key, a newer format or a value no fer model writes; keys this
        version does not know (e.g. `grayscale`, `format_version`) are read past."""
        if not isinstance(meta, Mapping):
            raise ValueError("fer metadata: a mapping expected")
        missing = [key for key in REQUIRED if key not in meta]
        if missing:
            raise ValueError(f"fer metadata lacks {', '.join(missing)}")
        version = meta.get("format_version", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"format_version {version!r}: this fer reads up to {FORMAT_VERSION} (upgrade fer)"
            )
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in meta.items() if key in known})

    def __post_init__(self) -> None:
        """Refuse (ValueError, one line) what no fer model writes: a hostile or damaged file
        must not make inference allocate a huge face or index past its classes."""
        if not (isinstance(self.classes, list) and 2 <= len(self.classes) <= MAX_CLASSES):
            raise ValueError(f"classes: a list of 2 to {MAX_CLASSES} names expected")
        if not all(isinstance(c, str) and 0 < len(c) <= 64 for c in self.classes):
            raise ValueError("classes: every class must be a name of 1 to 64 characters")
        if not (isinstance(self.input_size, int) and 8 <= self.input_size <= MAX_INPUT_SIZE):
            raise ValueError(f"input_size {self.input_size!r}: 8 to {MAX_INPUT_SIZE} expected")
        numbers = isinstance(self.mean, (int, float)) and isinstance(self.std, (int, float))
        if not (numbers and math.isfinite(self.mean) and math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"mean {self.mean!r}, std {self.std!r}: finite, std positive expected")
        if self.channels not in (1, 3):
            raise ValueError(f"channels {self.channels!r}: 1 or 3 expected")
        if self.tta not in TTA_MODES:
            raise ValueError(f"tta {self.tta!r}: one of {', '.join(TTA_MODES)} expected")
        if not isinstance(self.model, dict) or not isinstance(self.framing, (dict, type(None))):
            raise ValueError("model and framing: mappings expected")
