"""Compose one self-supervised pretraining run (SimCLR) from the Hydra config; save the encoder.

`run(cfg)` pretrains `cfg.model`'s backbone on unlabelled Training faces, reports kNN accuracy
on PublicTest each epoch, and writes `encoder.safetensors` and `metrics.json` into the run
directory; `python train.py model.init_from=RUN_DIR` starts a classifier from it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from fer.run.callbacks import RunStats, last_checkpoint
from fer.run.lifecycle import make_trainer, start_record, wandb_finished
from fer.run.loggers import wandb_experiment
from fer.run.naming import run_name
from fer.ssl.data import PretrainData
from fer.ssl.simclr import SimCLR
from fer.transfer import ENCODER_FILE, save_encoder

log = logging.getLogger(__name__)


def run(
    cfg: DictConfig, overrides: list[str] | None = None, group: str | None = None
) -> dict[str, Any]:
    """Pretrain, save the encoder, return what metrics.json holds."""
    overrides = list(overrides or [])
    run_dir = Path(cfg.paths.output_dir)
    record = start_record(cfg, run_dir, overrides)
    ssl = OmegaConf.to_container(cfg.ssl, resolve=True)
    if ssl.pop("method", "simclr") != "simclr":
        raise ValueError(f"unknown ssl.method {cfg.ssl.method!r}; valid choices: simclr")
    data = PretrainData(
        **OmegaConf.to_container(cfg.data, resolve=True),
        views=ssl.pop("views"),
        bank_size=ssl.pop("knn_bank"),
        seed=cfg.seed,
    )
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    system = SimCLR(
        model=model_cfg,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        channels_last=trainer_cfg["channels_last"],
        **ssl,
    )
    stats = RunStats()
    callbacks: list[L.Callback] = [last_checkpoint(run_dir), stats]
    hparams = OmegaConf.to_container(cfg, resolve=True) | {"provenance": record.provenance}
    trainer, loggers, precision = make_trainer(
        cfg, run_dir, run_name(overrides), group, hparams, callbacks
    )
    params = sum(p.numel() for p in system.net.backbone.parameters())
    log.info("SimCLR pretraining of %s: %s encoder parameters", model_cfg["name"], f"{params:,}")
    experiment = wandb_experiment(loggers)
    with wandb_finished(experiment):
        trainer.fit(system, datamodule=data)
        if trainer.interrupted:
            raise KeyboardInterrupt
        knn = float(trainer.callback_metrics.get("val/knn_acc", float("nan")))
        info = {"method": "simclr", "epochs": trainer.current_epoch, "knn_acc": knn}
        encoder = save_encoder(system.net, model_cfg, run_dir / ENCODER_FILE, info)
        if experiment is not None and trainer.is_global_zero:
            import wandb

            artifact = wandb.Artifact(f"encoder-{experiment.id}", type="model", metadata=info)
            artifact.add_file(str(encoder))
            experiment.log_artifact(artifact)
    values = record.complete(
        trainer, stats, precision, knn_acc=knn, encoder=str(encoder), params=params
    )
    log.info("encoder written to %s (kNN accuracy on PublicTest %.4f)", encoder, knn)
    return values
