"""Inference on any image or face: the Predictor and face detection. No training code imported."""

from fer.inference.predictor import FacePrediction, Predictor

__all__ = ["FacePrediction", "Predictor"]
