"""A fer model as one ONNX file that any runtime can use without torch or fer.

The graph takes grey (or RGB) face crops at the model's size as float pixels in 0..255,
`(batch, channels, size, size)` with a dynamic batch, standardises them with the model's own
mean and std, runs the network (an ensemble as one graph: the mean of its members'
probabilities) and returns `probabilities` `(batch, classes)`. What a runtime needs to use it
the way fer does is in the file's metadata (`metadata_props`): the classes, input size and
channels, mean and std, histogram equalisation, the framing that cuts a face from a detection,
the TTA chosen on PublicTest, the source file and its card. `export_onnx` checks itself: the
probabilities from onnxruntime and from torch on the same faces must agree to `tolerance`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fer.checkpoint import load_model, resolve_checkpoint
from fer.inference.onnx_session import cpu_session
from fer.io import atomic_path

TOLERANCE = 1e-4  # largest difference of probabilities allowed between onnxruntime and torch
OPSET = 17


class ExportError(Exception):
    """The export could not be made or did not check out."""


class ProbabilityGraph(nn.Module):
    """pixels 0..255 (B, C, H, W) -> probabilities (B, K): what the ONNX file computes."""

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.model, self.mean, self.std = model, float(mean), float(std)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels / 255.0 - self.mean) / self.std
        return self.model(x).float().softmax(-1)


def card_of(source: Path) -> dict[str, Any] | None:
    """The source's card: NAME.json beside a kept member, card.json beside the shipped model."""
    for candidate in (source.with_suffix(".json"), source.parent / "card.json"):
        if candidate.is_file() and candidate != source:
            try:
                return json.loads(candidate.read_text())
            except json.JSONDecodeError:
                return None
    return None


def export_onnx(
    model_ref: str | Path | None,
    out: str | Path,
    faces: np.ndarray | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Write `out` (.onnx) from a run directory, checkpoint or .safetensors (None: the shipped
    model), check it against torch on `faces` (uint8 (N, H, W) or (N, H, W, 3); default: 64
    seeded random faces) and return {"path", "max_difference", "faces", "metadata"}. The file
    appears only once the check has passed."""
    try:  # both are needed below: say so in one line now, not in a traceback later
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ExportError(
            f"fer-export needs onnx and onnxruntime: pip install onnx onnxruntime ({e.name} "
            "is missing)"
        ) from None
    source = resolve_checkpoint(model_ref)
    model, info = load_model(source)
    if info.equalized:
        raise ExportError(
            f"{source}: the model equalises each face's histogram before standardising; the "
            "ONNX graph does not, so it would not predict as fer does"
        )
    graph = ProbabilityGraph(model.eval(), info.mean, info.std).eval()
    size, channels = info.input_size, info.channels
    if faces is None:
        rng = np.random.default_rng(0)
        shape = (64, size, size) if channels == 1 else (64, size, size, 3)
        faces = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels = torch.from_numpy(np.asarray(faces)).float()
    pixels = pixels.unsqueeze(1) if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)
    if tuple(pixels.shape[1:]) != (channels, size, size):
        raise ExportError(
            f"check faces are {tuple(pixels.shape[1:])}; the model takes ({channels}, {size}, "
            f"{size})"
        )
    metadata = {
        "fer.classes": json.dumps(list(info.classes)),
        "fer.input": json.dumps({"size": size, "channels": channels, "pixels": "0..255 float"}),
        "fer.normalisation": json.dumps({"mean": info.mean, "std": info.std}),
        "fer.equalized": json.dumps(bool(info.equalized)),
        "fer.framing": json.dumps(info.framing),
        "fer.tta": info.tta or "none",
        "fer.source": str(source),
        "fer.model": json.dumps(info.model),
        "fer.card": json.dumps(card_of(source)),
    }
    out = Path(out)
    with atomic_path(out) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on its own deprecations
            torch.onnx.export(
                graph,
                (pixels[:2],),
                str(tmp),
                input_names=["pixels"],
                output_names=["probabilities"],
                dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        _set_metadata(tmp, metadata)
        session = cpu_session(tmp, "fer-export")
        got = session.run(None, {"pixels": pixels.numpy()})[0]
        with torch.no_grad():
            expected = graph(pixels).numpy()
        difference = float(np.abs(got - expected).max())
        if not difference <= tolerance:
            raise ExportError(
                f"onnxruntime and torch differ by {difference:.2e} on {len(pixels)} faces "
                f"(allowed {tolerance:.0e}): not written"
            )
    return {
        "path": out,
        "max_difference": difference,
        "faces": len(pixels),
        "metadata": metadata,
    }


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def read_metadata(path: str | Path) -> dict[str, str]:
    """An exported file's fer metadata, as written (JSON strings where structured)."""
    session = cpu_session(path, "reading an ONNX file's metadata")
    return dict(session.get_modelmeta().custom_metadata_map)
