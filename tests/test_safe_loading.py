"""Safe loading at every door that reads weights: a checkpoint whose pickle would write a marker
file if it ran is refused, with one line saying so, by each entry point."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from fer import Predictor
from fer.checkpoint import load_checkpoint, load_model
from fer.cli.evaluate import main as eval_main
from fer.data.datamodule import FERDataModule
from fer.system import EmotionClassifier
from fer.train import run

from conftest import config


class Payload:
    """Unpickling this opens (creates) the marker file: code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def poisoned(tmp_path):
    """A run directory whose checkpoints carry the payload beside real-looking metadata."""
    marker = tmp_path / "EXECUTED"
    run_dir = tmp_path / "poisoned"
    (run_dir / "checkpoints").mkdir(parents=True)
    payload = {"state_dict": {"w": torch.zeros(1)}, "fer": {"x": Payload(marker)}, "epoch": 0}
    for name in ("best.ckpt", "last.ckpt"):
        torch.save(payload, run_dir / "checkpoints" / name)
    return run_dir, marker


def refused_in_one_line(message: str) -> None:
    assert message.strip() and "\n" not in message.strip(), message


def test_load_checkpoint_and_load_model(poisoned):
    run_dir, marker = poisoned
    for load in (load_checkpoint, load_model):
        with pytest.raises(Exception) as error:
            load(run_dir / "checkpoints" / "best.ckpt")
        refused_in_one_line(str(error.value))
        assert "weights-only" in str(error.value)
    assert not marker.exists()


def test_predictor_load(poisoned):
    run_dir, marker = poisoned
    with pytest.raises(Exception) as error:
        Predictor.load(run_dir)
    refused_in_one_line(str(error.value))
    assert not marker.exists()


def test_fer_eval(poisoned, tiny_h5, capsys):
    run_dir, marker = poisoned
    code = eval_main(
        ["--model", str(run_dir / "checkpoints" / "best.ckpt"), "--data", str(tiny_h5)]
    )
    assert code != 0 and not marker.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("fer-eval: error:") and "weights-only" in err[-1]


def test_resume_from_a_poisoned_last_checkpoint(poisoned, tiny_h5, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's default made unsafe
    run_dir, marker = poisoned
    cfg = config(tiny_h5, run_dir)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    with pytest.raises(Exception) as error:
        run(config(tiny_h5, tmp_path / "new", f"resume={run_dir}"), overrides=[f"resume={run_dir}"])
    refused_in_one_line(str(error.value).splitlines()[0])
    assert not marker.exists()


def test_model_init_from_a_poisoned_checkpoint(poisoned, tiny_h5, tmp_path):
    run_dir, marker = poisoned
    with pytest.raises(Exception) as error:
        run(
            config(
                tiny_h5,
                tmp_path / "run",
                f"model.init_from={run_dir / 'checkpoints' / 'best.ckpt'}",
            )
        )
    refused_in_one_line(str(error.value))
    assert not marker.exists()


def test_lightning_validate_with_a_poisoned_ckpt_path(poisoned, tiny_h5, tmp_path):
    run_dir, marker = poisoned
    cfg = config(tiny_h5, tmp_path / "run")
    system = EmotionClassifier(
        model=OmegaConf.to_container(cfg.model, resolve=True),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
    )
    data = FERDataModule(str(tiny_h5), batch_size=16, num_workers=0)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(Exception) as error:
        trainer.validate(system, datamodule=data, ckpt_path=run_dir / "checkpoints" / "best.ckpt")
    assert "weights" in str(error.value).lower() or "unpickl" in str(error.value).lower()
    assert not marker.exists()
