"""What `--model` names: a run directory, a checkpoint inside one, a sweep, or the shipped model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fer.checkpoint import resolve_checkpoint
from fer.modelinfo import CheckpointError
from fer.run.records import find_runs

DEFAULT_DATA = Path("data/fer2013.h5")


@dataclass(frozen=True)
class RunRef:
    checkpoint: Path  # the model file
    run_dir: Path | None  # the run directory, when the model came from one
    config: DictConfig | None  # its resolved .hydra/config.yaml

    def data_path(self, override: str | Path | None = None) -> Path:
        """--data, else the data.path the run trained on, else data/fer2013.h5."""
        if override:
            return Path(override)
        if self.config is not None and OmegaConf.select(self.config, "data.path"):
            return Path(self.config.data.path)
        return DEFAULT_DATA

    def output_dir(self, *parts: str, override: str | Path | None = None) -> Path:
        """--out, else RUN_DIR/<parts>, else ./<parts> for a model outside a run directory."""
        if override:
            return Path(override)
        return (self.run_dir or Path(".")).joinpath(*parts)


def is_sweep(path: str | Path) -> bool:
    """A directory holding run directories (and no checkpoints of its own)."""
    path = Path(path)
    return path.is_dir() and not (path / "checkpoints").is_dir() and any(path.glob("*/.hydra"))


def sweep_runs(path: str | Path) -> list[Path]:
    """The run directories of a sweep that have a best checkpoint, in job order."""

    return [
        r.path for r in find_runs([str(path)]) if (r.path / "checkpoints" / "best.ckpt").is_file()
    ]


def resolve_run(model: str | Path | None) -> RunRef:
    """Resolve --model; raises CheckpointError with a clear message."""
    checkpoint = resolve_checkpoint(model)
    run_dir = None
    for candidate in (checkpoint.parent, checkpoint.parent.parent):
        if (candidate / ".hydra" / "config.yaml").is_file():
            run_dir = candidate
            break
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml") if run_dir else None
    if config is not None and not isinstance(config, DictConfig):
        raise CheckpointError(f"{run_dir}: unreadable .hydra/config.yaml")
    return RunRef(checkpoint, run_dir, config)
