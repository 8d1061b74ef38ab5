"""Self-describing, weights-only-safe checkpoints: save metadata, load a ready model from a path.

A checkpoint carries a `fer` entry (classes, input size, normalisation, model config) beside the
weights, so inference needs nothing else; every load uses `torch.load(weights_only=True)`, which
never executes pickled code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer.framing import FER2013, Framing
from fer.io import atomic_path
from fer.modelinfo import (
    DEFAULT_MODEL,
    FORMAT_VERSION,
    TTA_MODES,
    CheckpointError,
    ModelInfo,
)
from fer.models import build_model
from fer.models.factory import for_faces, with_data_shape


def checkpoint_metadata(hparams: Any) -> dict[str, Any]:
    """The `fer` entry written into every checkpoint (plain types only)."""
    return {
        "format_version": FORMAT_VERSION,
        "classes": list(hparams["classes"]),
        "input_size": int(hparams["input_size"]),
        "grayscale": int(hparams.get("channels", 1)) == 1,
        "channels": int(hparams.get("channels", 1)),
        "mean": float(hparams["mean"]),
        "std": float(hparams["std"]),
        "equalized": bool(hparams.get("equalized", False)),
        "model": dict(hparams["model"]),
        "framing": FER2013.to_dict(),  # the faces fer trains on are FER2013's
    }


def resolve_checkpoint(path: str | Path | None, which: str = "best") -> Path:
    """A checkpoint file, a run directory (-> checkpoints/<which>.ckpt), or None (the default)."""
    if path is None:
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(
                "no default model ships with this installation; pass --model RUN_DIR_OR_CKPT"
            )
        return DEFAULT_MODEL
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / f"{which}.ckpt"
        if not candidate.is_file():
            raise CheckpointError(f"{path}: no checkpoints/{which}.ckpt (is it a run directory?)")
        return candidate
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; CheckpointError if unsafe or unreadable."""
    path = resolve_checkpoint(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files, non-checkpoint files
        raise CheckpointError(
            f"{path}: not a readable weights-only checkpoint ({e.__class__.__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or "fer" not in checkpoint:
        raise CheckpointError(f"{path}: not a fer checkpoint (no 'fer' metadata)")
    return checkpoint


def load_model(path: str | Path | None) -> tuple[nn.Module, ModelInfo]:
    """Build the model a checkpoint (or exported .safetensors) describes; in eval mode.

    `path` is a checkpoint, a run directory, an exported `.safetensors` file, or None for the
    model shipped with the package."""
    resolved = resolve_checkpoint(path)
    if resolved.suffix == ".safetensors":
        return _load_safetensors(resolved)
    checkpoint = load_checkpoint(resolved)
    try:
        info = ModelInfo.from_dict(checkpoint["fer"])
    except ValueError as e:
        raise CheckpointError(f"{resolved}: not a usable fer checkpoint ({e})") from None
    prefix = "net."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    return _model_from(info, state, resolved), info


def _model_from(info: ModelInfo, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    """The model of a checkpoint or model file: built once its tensors fit, then loaded and
    checked against its class names."""
    model = _build_for(info, {k: tuple(v.shape) for k, v in state.items()}, path)
    return _with_weights(model, state, info, path)


def _with_weights(
    model: nn.Module, state: dict[str, torch.Tensor], info: ModelInfo, path: Path
) -> nn.Module:
    """`model` with `state` loaded, in eval mode, once one blank face shows that its head gives
    one score per class name (a file whose names and head disagree would label faces wrongly)."""
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        scores = model(torch.zeros(1, info.channels, info.input_size, info.input_size)).shape[-1]
    if scores != len(info.classes):
        raise CheckpointError(
            f"{path}: its head gives {scores} scores for {len(info.classes)} class names"
        )
    return model


def _build_for(info: ModelInfo, shapes: dict[str, tuple[int, ...]], path: Path) -> nn.Module:
    """The model `info` describes, built once its tensors are known to be the file's `shapes`.
    The architecture is first built on the meta device, which allocates nothing: metadata
    asking for a model far larger than the file's tensors is refused before it costs memory.
    (A builder that reads values while building, e.g. timm's ViT drop-path schedule, cannot run
    on the meta device: it is built on the CPU and checked after.)"""
    config = for_faces(info.model, info.mean, info.std)
    config = with_data_shape(config, len(info.classes), info.channels, info.input_size, keep=True)
    model = None
    try:
        with torch.device("meta"):
            built = build_model(config)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: its model config cannot be built ({e})") from None
    except (RuntimeError, NotImplementedError):
        built = model = build_model(config)
    expected = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    missing, extra = sorted(expected.keys() - shapes.keys()), sorted(shapes.keys() - expected)
    wrong = sorted(k for k in expected.keys() & shapes.keys() if expected[k] != shapes[k])
    if missing or extra or wrong:
        first = (
            f"{wrong[0]} is {list(shapes[wrong[0]])}, the config builds {list(expected[wrong[0]])}"
            if wrong
            else f"{missing[0]} missing"
            if missing
            else f"{extra[0]} unexpected"
        )
        counts = f"{len(wrong)} of another shape, {len(missing)} missing, {len(extra)} unexpected"
        raise CheckpointError(
            f"{path}: its tensors do not match its model config ({counts}; {first})"
        )
    return model if model is not None else build_model(config)


def export_model(checkpoint_path: str | Path, out: str | Path) -> Path:
    """Write a checkpoint's model as .safetensors (weights + `fer` metadata), no pickle at all."""
    from safetensors.torch import save_file

    model, info = load_model(checkpoint_path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata={"fer": json.dumps(asdict(info))})
    return Path(out)


def _input_contract(info: ModelInfo, framing: bool = True) -> tuple:
    """What members of one ensemble must share: the faces they take and how they are cut."""
    return (
        info.classes,
        info.input_size,
        info.mean,
        info.std,
        info.channels,
        info.equalized,
        Framing.from_dict(info.framing) if framing else None,
    )


def export_ensemble(
    paths: list[str | Path], out: str | Path, framing: Framing | None = None
) -> Path:
    """Write the ensemble of several models (checkpoints, run dirs or .safetensors) as one
    .safetensors file: their mean probability, loadable wherever a single model is.

    `framing`: how the ensemble's faces are cut (default: its members', which must agree);
    given, it replaces theirs (members of one dataset exported under different fits)."""
    from safetensors.torch import save_file

    loaded = [load_model(p) for p in paths]
    first = loaded[0][1]
    compare = framing is None
    for path, (_, info) in zip(paths, loaded):
        if _input_contract(info, compare) != _input_contract(first, compare):
            if _input_contract(info, False) == _input_contract(first, False):
                raise CheckpointError(
                    f"{path}: its framing differs from {paths[0]}'s (members exported under "
                    "different fits); give the ensemble one framing: framing=fer.framing.FER2013"
                )
            raise CheckpointError(
                f"{path}: classes, input size, normalisation, equalisation or framing differ from "
                f"{paths[0]}'s"
            )
    info = replace(
        first,
        model={"name": "ensemble", "members": [i.model for _, i in loaded]},
        framing=(framing or Framing.from_dict(first.framing)).to_dict(),
    )
    state = {
        f"members.{k}.{name}": v.detach().contiguous()
        for k, (model, _) in enumerate(loaded)
        for name, v in model.state_dict().items()
    }
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata={"fer": json.dumps(asdict(info))})
    return Path(out)


def set_tta(path: str | Path, tta: str) -> None:
    """Record in a .safetensors model file the TTA chosen for it (its weights are unchanged)."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; valid choices: {', '.join(TTA_MODES)}")
    _set_info(Path(path), tta=tta)


def set_framing(path: str | Path, framing: Framing) -> None:
    """Record in a .safetensors model file how faces are cut for it (its weights unchanged)."""
    _set_info(Path(path), framing=framing.to_dict())


def _set_info(path: Path, **changes: Any) -> None:
    from safetensors.torch import load_file, save_file

    info = _read_info(path)  # refuses what is not a fer model file
    state = load_file(str(path))
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"fer": json.dumps(asdict(replace(info, **changes)))})


def _read_info(path: Path) -> ModelInfo:
    """The `fer` metadata of a .safetensors model file, read from its header alone."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get("fer")
    except Exception as e:  # header errors
        raise CheckpointError(f"{path}: not a fer model file ({e.__class__.__name__})") from None
    if meta is None:
        raise CheckpointError(f"{path}: no 'fer' metadata (fer-export writes model files)")
    try:
        return ModelInfo.from_dict(json.loads(meta))
    except ValueError as e:  # metadata no fer model writes (fer.modelinfo.ModelInfo)
        raise CheckpointError(f"{path}: not a usable fer model file ({e})") from None


def _load_safetensors(path: Path) -> tuple[nn.Module, ModelInfo]:
    from safetensors.torch import load_file

    info = _read_info(path)
    try:
        state = load_file(str(path))
    except Exception as e:  # a damaged tensor section
        raise CheckpointError(f"{path}: not a fer model file ({e.__class__.__name__})") from None
    return _model_from(info, state, path), info
