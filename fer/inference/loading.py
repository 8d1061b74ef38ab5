"""One way to get a predictor for a `--model` and a `--runtime`, for every tool.

`torch` loads a run directory, checkpoint or .safetensors into the `Predictor`; `onnx` loads a
`.onnx` file written by fer-export into the `OnnxPredictor` (the shipped model has one beside its
weights). Without `--runtime`, a `.onnx` model runs on onnxruntime, anything else on torch, and
everything on onnxruntime where torch is not installed (the light install). Tools that start,
predict and exit (fer-predict, fer-video on files) also run the shipped model on onnxruntime:
importing torch is most of such a job's time (a 20-second video: 2.1 s on onnxruntime against
3.4-4.0 s on torch, scripts/bench/bench_video.py), while a long-running process (fer-app, a live
view) makes up for torch's start-up with its faster bf16 kernels where the CPU has them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fer.inference.classifier import FaceClassifier
from fer.modelinfo import DEFAULT_ONNX

RUNTIMES = ("torch", "onnx")


class ModelLoadError(Exception):
    """A model that cannot be loaded on the runtime asked for (the message says why)."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def onnx_ready() -> bool:
    """Whether onnxruntime is installed and the shipped model's ONNX export is here."""
    return importlib.util.find_spec("onnxruntime") is not None and DEFAULT_ONNX.is_file()


def choose_runtime(
    model: str | Path | None, runtime: str | None, shipped_on_onnx: bool = False
) -> str:
    """The runtime a model runs on: the one asked for, else onnx for a .onnx file or where torch
    is not installed, or (`shipped_on_onnx`, for short jobs) for the shipped model where its
    ONNX export and onnxruntime are installed; else torch."""
    if runtime is not None:
        if runtime not in RUNTIMES:
            raise ModelLoadError(
                f"unknown runtime {runtime!r}; valid choices: {', '.join(RUNTIMES)}"
            )
        return runtime
    if model is not None and Path(model).suffix == ".onnx":
        return "onnx"
    if model is None and shipped_on_onnx and onnx_ready():
        return "onnx"
    return "torch" if torch_installed() else "onnx"


def load_predictor(
    model: str | Path | None,
    runtime: str | None = None,
    shipped_on_onnx: bool = False,
    **options: Any,
) -> FaceClassifier:
    """The predictor for `model` (None: the shipped one) on `runtime` (None: `choose_runtime`,
    with `shipped_on_onnx`); ModelLoadError (or the checkpoint's own error) says what is wrong."""
    runtime = choose_runtime(model, runtime, shipped_on_onnx)
    if runtime == "torch":
        if not torch_installed():
            raise ModelLoadError(
                "the torch runtime needs torch: pip install 'fer[train]', or use --runtime onnx"
            )
        from fer.inference.predictor import Predictor

        if model is not None and Path(model).suffix == ".onnx":
            raise ModelLoadError(f"{model}: an ONNX file runs with --runtime onnx")
        return Predictor.load(model, **options)
    from fer.inference.onnx_predictor import OnnxPredictor

    path = Path(model) if model is not None else DEFAULT_ONNX
    if path.suffix != ".onnx":
        raise ModelLoadError(
            f"{path}: onnxruntime takes the .onnx file fer-export writes "
            f"(fer-export --model {path} -o model.onnx)"
        )
    if not path.is_file():
        missing = "no ONNX model ships with this installation" if model is None else "no such file"
        raise ModelLoadError(f"{path}: {missing}")
    return OnnxPredictor.load(path, **{k: v for k, v in options.items() if k == "batch_size"})
