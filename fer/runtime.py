"""Hardware choices made once: precision by what the device supports."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16-mixed", "16-mixed", "32-true", "32", "16", "bf16", "64-true")


@cache
def cpu_supports_bf16() -> bool:
    """True on x86 CPUs with native bf16 (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str | int, accelerator: str = "auto") -> str:
    """'auto' -> bf16-mixed on GPUs and CPUs that support it, else 32-true; others pass through."""
    precision = str(precision)  # `trainer.precision=32` arrives as an int
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown trainer.precision {precision!r}; valid choices: {', '.join(PRECISIONS)}"
        )
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), for reports and model cards."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
