"""Compose one training run from the Hydra config: data, model, trainer; fit, test, record.

`run(cfg)` trains, selects the best checkpoint on val (PublicTest), tests it on PrivateTest once
and writes `metrics.json` into the run directory. `train.py` runs it through
`fer.run.lifecycle.run_job`: a failure is recorded in the run directory as `status: failed` (with
the traceback in `error.log`), and in a multirun the sweep goes on with the next job.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from omegaconf import DictConfig, OmegaConf

from fer.checkpoint import resolve_checkpoint
from fer.data.datamodule import FERDataModule
from fer.data.hdf5 import DatasetMeta, dataset_meta
from fer.modelinfo import CheckpointError
from fer.models.factory import for_faces, with_data_shape
from fer.run.callbacks import RunStats, last_checkpoint
from fer.run.lifecycle import make_trainer, start_record, wandb_finished
from fer.run.loggers import link_into_sweep, wandb_experiment
from fer.run.naming import run_name
from fer.run.predictions import write_predictions
from fer.system import EmotionClassifier

log = logging.getLogger(__name__)


def model_for_data(model: dict[str, Any], meta: DatasetMeta) -> dict[str, Any]:
    """The model config completed with what the data says: its number of classes, channels
    and size (always written, so the checkpoint rebuilds without the builders' defaults), and
    the faces' standardisation for the models that undo it."""
    model = for_faces(dict(model), meta.mean, meta.std)
    return with_data_shape(model, len(meta.classes), meta.channels, meta.image_size)


def run(
    cfg: DictConfig, overrides: list[str] | None = None, group: str | None = None
) -> dict[str, Any]:
    """Train, select on val, test the selected checkpoint; return what metrics.json holds."""
    overrides = list(overrides or [])
    resume_from = None
    if cfg.get("resume"):
        cfg, resume_from = _resume_config(cfg, overrides)
    run_dir = Path(cfg.paths.output_dir)
    record = start_record(cfg, run_dir, overrides)
    data = FERDataModule(
        **OmegaConf.to_container(cfg.data, resolve=True),
        augment=OmegaConf.to_container(cfg.augment, resolve=True),
        seed=cfg.seed,
    )
    system = build_system(cfg, data)
    params = sum(p.numel() for p in system.net.parameters())
    stats = RunStats()
    checkpoint, callbacks = _callbacks(cfg, run_dir, stats)
    name = run_name(overrides)
    hparams = OmegaConf.to_container(cfg, resolve=True) | {
        "params": params,
        "provenance": record.provenance,
    }
    trainer, loggers, precision = make_trainer(cfg, run_dir, name, group, hparams, callbacks)
    log.info("run %s: %s parameters, precision %s", name or run_dir.name, f"{params:,}", precision)
    experiment = wandb_experiment(loggers)
    if experiment is not None and group:
        link_into_sweep(experiment, Path(group))
    with wandb_finished(experiment):
        # weights_only stated: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot make a load unpickle code
        trainer.fit(system, datamodule=data, ckpt_path=resume_from, weights_only=True)
        if trainer.interrupted:
            raise KeyboardInterrupt
        best = checkpoint.best_model_path or None
        val, test = _evaluate(trainer, system, data, best, run_dir)
        if not trainer.is_global_zero:  # DDP: other ranks leave the recording to rank 0
            return {"status": "completed", "val_acc_best": best_score(checkpoint)}
        summary = {"val/acc_best": best_score(checkpoint), "test/acc": float(test["test/acc"])}
        _report(cfg, experiment, run_dir, data, best, summary | {"params": params}, stats)
    values = record.complete(
        trainer,
        stats,
        precision,
        val={k.removeprefix("val/"): float(v) for k, v in val.items()},
        test={k.removeprefix("test/"): float(v) for k, v in test.items()},
        val_acc_best=best_score(checkpoint),
        params=params,
        best_checkpoint=str(best),
    )
    log.info(
        "val acc %.4f, test acc %.4f (best epoch checkpoint %s)",
        values["val"]["acc"],
        values["test"]["acc"],
        best,
    )
    return values


def build_system(cfg: DictConfig, data: FERDataModule) -> EmotionClassifier:
    """The LightningModule of a run: the model completed by what the data says (classes,
    size, channels, standardisation), the optimiser, schedule and loss of the config."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    meta = dataset_meta(cfg.data.path)  # classes, size and channels come from the data
    return EmotionClassifier(
        model=model_for_data(OmegaConf.to_container(cfg.model, resolve=True), meta),
        classes=list(meta.classes),
        input_size=meta.image_size,
        channels=meta.channels,
        mean=meta.mean,
        std=meta.std,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        label_smoothing=cfg.loss.label_smoothing,
        class_weights=data.class_weights() if cfg.loss.class_weights else None,
        channels_last=trainer_cfg["channels_last"],
        equalized=bool(OmegaConf.select(cfg, "preprocess.equalize", default=False)),
    )


def _callbacks(
    cfg: DictConfig, run_dir: Path, stats: RunStats
) -> tuple[L.pytorch.callbacks.ModelCheckpoint, list[L.Callback]]:
    """best.ckpt (selected on val/acc), last.ckpt, throughput, and early stopping if asked."""
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/acc",
        mode="max",
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    callbacks: list[L.Callback] = [checkpoint, last_checkpoint(run_dir), stats]
    if cfg.early_stopping.patience:
        callbacks.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor="val/acc", mode="max", patience=cfg.early_stopping.patience
            )
        )
    return checkpoint, callbacks


def _evaluate(
    trainer: L.Trainer,
    system: EmotionClassifier,
    data: FERDataModule,
    best: str | None,
    run_dir: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Val and test metrics of the selected checkpoint, its per-image predictions written
    (the ones those metrics come from) into predictions/{val,test}.npz."""
    safe = {"ckpt_path": best, "verbose": False, "weights_only": True}
    system.record_predictions()
    val = trainer.validate(system, datamodule=data, **safe)[0]
    predictions = {"val": system.recorded_predictions()}
    system.record_predictions()
    test = trainer.test(system, datamodule=data, **safe)[0]
    predictions["test"] = system.recorded_predictions()
    if trainer.is_global_zero:
        for split, dataset in (("val", data.val_set), ("test", data.test_set)):
            # Evaluation loaders keep the split's order; Lightning's limit_*_batches,
            # fast_dev_run and overfit_batches evaluate its first batches only; DDP's padding
            # (the first images again) comes last and is cut.
            evaluated = dataset.index[: len(predictions[split]["labels"])]
            kept = {k: v[: len(evaluated)] for k, v in predictions[split].items()}
            write_predictions(run_dir / "predictions" / f"{split}.npz", evaluated, kept)
    return val, test


def _report(
    cfg: DictConfig,
    experiment: Any,
    run_dir: Path,
    data: FERDataModule,
    best: str | None,
    summary: dict[str, float],
    stats: RunStats,
) -> None:
    """What people sort runs by in the W&B table, and the run's own figures if asked."""
    if experiment is not None:
        experiment.summary.update(summary | {"train/images_per_s": round(stats.images_per_s, 1)})
    if cfg.figures and best:
        # matplotlib and the evaluation code: imported only when figures are drawn
        from fer.analysis.run_figures import log_run_figures, write_run_figures

        test_set = data.test_set
        figures = write_run_figures(run_dir, Path(best), test_set.images, test_set.labels)
        if experiment is not None:
            log_run_figures(experiment, figures, test_set.images, test_set.labels, Path(best))


def best_score(checkpoint: L.pytorch.callbacks.ModelCheckpoint) -> float:
    """The selected checkpoint's val accuracy; NaN only when there is none (0.0 is a score)."""
    score = checkpoint.best_model_score
    return float("nan") if score is None else float(score)


def _resume_config(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, str]:
    """`resume=RUN_DIR`: that run's saved config (plus this call's `key=value` overrides of plain
    values, e.g. a larger trainer.max_epochs), continuing in that run's directory from last.ckpt."""
    try:
        ckpt = resolve_checkpoint(cfg.resume, which="last")
    except CheckpointError as e:
        raise ValueError(f"cannot resume: {e}") from None
    run_dir = ckpt.parent.parent
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise ValueError(f"cannot resume: {saved} not found (resume takes a run directory)")
    original = OmegaConf.load(saved)
    changes = [o for o in overrides if "=" in o and not o.startswith(("resume=", "hydra."))]
    for key, value in (o.lstrip("+").split("=", 1) for o in changes):
        if OmegaConf.select(original, key) is not None and not OmegaConf.is_config(
            OmegaConf.select(original, key)
        ):
            OmegaConf.update(original, key, yaml.safe_load(value))
    original.paths.output_dir = str(run_dir)
    original.resume = None
    log.info("resuming %s from %s", run_dir, ckpt)
    return original, str(ckpt)
