"""The classifying network compiled ahead of a long live view (`torch.compile`, opt-in).

A webcam or video classifies one face at a time for minutes, so a compile paid once at the
start is worth it there and not in a one-off `fer-predict`. Inductor with frozen weights and
static shapes classifies a face alone in 55-75% of the eager time on a 2-core CPU (README,
"Train fast on a CPU"); dynamic shapes lose the gain, and every new shape compiles again
(seconds), so only the batch sizes named up front are compiled, before the first frame, and
any other batch runs eagerly. Where compiling fails (no C++ compiler, an unsupported
platform) the eager network is kept, with a warning.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable

import torch

from fer import FerWarning


class CompiledNet:
    """`net` for batches of `batch_sizes` compiled (frozen weights, static shapes), the eager
    `net` for any other batch. `compile_seconds` says what compiling took; `compiled` is False
    when it failed and every batch runs eagerly."""

    def __init__(
        self,
        net: torch.nn.Module,
        batch_sizes: Iterable[int],
        image_shape: tuple[int, int, int],
        device: torch.device,
        bf16: bool,
    ) -> None:
        self.net = net
        self.sizes = frozenset(int(b) for b in batch_sizes)
        self.fast = torch.compile(net, dynamic=False)
        start = time.perf_counter()
        # Inductor looks for CUDA while it builds: on a CPU machine with a CUDA folder that
        # logs a harmless "No CUDA runtime is found" warning, which is not the user's concern.
        cpp_extension = logging.getLogger("torch.utils.cpp_extension")
        level = cpp_extension.level
        cpp_extension.setLevel(logging.ERROR)
        try:
            self._warm_up(image_shape, device, bf16)
            self.compiled = True
        except Exception as e:  # any failure of the compiler stack: keep the eager network
            warnings.warn(
                f"torch.compile failed, classifying eagerly: {e}", FerWarning, stacklevel=2
            )
            self.compiled = False
        finally:
            cpp_extension.setLevel(level)
        self.compile_seconds = time.perf_counter() - start

    def _warm_up(self, image_shape: tuple[int, int, int], device: torch.device, bf16: bool) -> None:
        """Compile every batch size now, as `Predictor.probabilities` will call the network
        (inference mode, channels-last input, bf16 autocast when the predictor uses it)."""
        from torch._inductor import config

        with (
            config.patch(freezing=True),
            torch.inference_mode(),
            torch.autocast(device.type, torch.bfloat16, enabled=bf16),
        ):
            for size in sorted(self.sizes):
                x = torch.zeros(size, *image_shape, device=device)
                self.fast(x.contiguous(memory_format=torch.channels_last))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled and x.shape[0] in self.sizes:
            return self.fast(x)
        return self.net(x)
