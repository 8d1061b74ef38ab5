"""onnxruntime sessions as fer runs them: on the CPU, quiet, and without spinning threads.

A predictor on onnxruntime holds four sessions (the classifier and MTCNN's three networks), each
with its own pool of intra-op threads. By default a pool's threads spin for a while after every
run, waiting for more work; on a small CPU they then compete with the next session's threads for
the same cores (measured on a 2-core EPYC: a photo with detection and crop TTA 168 ms with
spinning, 54 ms without). The calls here are large enough that waking a thread costs nothing
measurable, so spinning is off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer.modelinfo import CheckpointError


def import_onnxruntime(what: str) -> Any:
    """onnxruntime, or ModuleNotFoundError saying what needs it and how to install it."""
    try:
        import onnxruntime
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"{what} needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime


def cpu_session(path: str | Path, what: str = "running an ONNX model") -> Any:
    """An `onnxruntime.InferenceSession` for `path` on the CPU provider, threads not spinning
    between runs, warnings about unused initialisers silenced."""
    ort = import_onnxruntime(what)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) share no base
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable ONNX model ({reason})") from None
