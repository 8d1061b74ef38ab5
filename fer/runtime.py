"""Hardware choices made once: precision by what the device supports."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16-mixed", "16-mixed", "32-true", "32", "16", "bf16", "64-true")


@cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (from /proc/cpuinfo; empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_supports_bf16(flags: frozenset[str] | None = None) -> bool:
    """True on x86 CPUs with native bf16 (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    flags = cpu_flags() if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(
    precision: str | int, accelerator: str = "auto", flags: frozenset[str] | None = None
) -> str:
    """'auto' -> bf16-mixed on GPUs and CPUs that support it, else 32-true; others pass through.
    `flags`: the CPU's feature flags (default: this CPU's)."""
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
    return "bf16-mixed" if cpu_supports_bf16(flags) else "32-true"


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), for reports and model cards."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> str:
    """This machine in a few words, for model cards: CPU, cores, and whether it has native bf16
    (which makes training about 2.7 times faster, so times are read with it)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    bf16 = "AVX512-BF16" if cpu_supports_bf16() else "no native bf16"
    return f"{cpu_name()} ({os.cpu_count()} cores, {bf16})"
