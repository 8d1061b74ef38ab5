"""Plain `nn.Module`s and their layer factories; nothing here imports Lightning or data code."""

from fer.models.factory import MODELS, build_model

__all__ = ["MODELS", "build_model"]
