"""fer: facial emotion recognition on FER2013 with configurable CNNs, Hydra and Lightning."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["FerWarning", "Predictor"]


class FerWarning(UserWarning):
    """A warning fer itself gives (the test suite turns these into errors)."""


def __getattr__(name: str) -> Any:
    if name == "Predictor":  # imported on first use: `import fer` stays light
        from fer.inference.loading import torch_installed

        if not torch_installed():  # the light install: the same API on onnxruntime
            from fer.inference.onnx_predictor import OnnxPredictor

            return OnnxPredictor
        from fer.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'fer' has no attribute {name!r}")
