"""Inference on any image or face: the Predictor and face detection. No training code imported.

`Predictor` and `FacePrediction` are imported on first use, so face detection on onnxruntime
(`fer.inference.faces.FaceDetector(runtime="onnx")`) loads without torch."""

from typing import Any

__all__ = ["FacePrediction", "Predictor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fer.inference import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'fer.inference' has no attribute {name!r}")
