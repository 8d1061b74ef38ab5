"""Checkpoints written whole or not at all: a temporary file beside the target, renamed onto it
once complete. Lightning's own `_atomic_save` serialises to memory first but then overwrites the
target in place, so a full disk (or a kill mid-write) truncates last.ckpt, the file a resume
needs; here the previous checkpoint stays until its successor is complete."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from fer.io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose saves go through `fer.io.atomic_path` (local paths only)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options: {storage_options}")
        buffer = io.BytesIO()  # serialised first: a full disk then fails as an OSError (ENOSPC)
        torch.save(checkpoint, buffer)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
