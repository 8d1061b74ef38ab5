"""Plain `nn.Module`s and their layer factories; nothing here imports Lightning or data code."""

from fer.models.factory import build_model, model_names, register

__all__ = ["build_model", "model_names", "register"]
