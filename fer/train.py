"""Compose one training run from the Hydra config: data, model, trainer; fit, test, record.

`run(cfg)` trains, selects the best checkpoint on val (PublicTest), tests it on PrivateTest once
and writes `metrics.json` into the run directory. `main(cfg)` wraps it for `train.py`: a failure
is recorded in the run directory as `status: failed` (with the traceback in `error.log`), and in
a multirun the sweep goes on with the next job.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from omegaconf import DictConfig, OmegaConf

from fer import rundir
from fer.callbacks import RunStats, last_checkpoint
from fer.checkpoint import CheckpointError, resolve_checkpoint
from fer.data.datamodule import FERDataModule
from fer.data.hdf5 import FER2013, DatasetMeta, dataset_meta
from fer.io import write_json
from fer.loggers import build_loggers, link_into_sweep, wandb_experiment
from fer.models.factory import MODELS, architecture
from fer.naming import run_name
from fer.predictions import write_predictions
from fer.runtime import hardware, resolve_precision
from fer.system import EmotionClassifier

log = logging.getLogger(__name__)
OWN_TRAINER_KEYS = ("precision", "channels_last")  # handled here, not passed to L.Trainer as is


def model_for_data(model: dict[str, Any], meta: DatasetMeta) -> dict[str, Any]:
    """The model config completed with what the data says: the number of classes, input
    channels and size where they differ from FER2013's (7, 1, 48), so FER2013 configs and
    checkpoints stay as they were. The torchvision and Hugging Face backbones take no channels
    or size: they resize any input and see grey as RGB."""
    model = dict(model)
    takes = inspect.signature(MODELS[architecture(model)[0]]).parameters  # before it is built
    if len(meta.classes) != len(FER2013.classes):
        model["num_classes"] = len(meta.classes)
    if meta.channels != FER2013.channels and "in_chans" in takes:  # others adapt grey/RGB
        model["in_chans"] = meta.channels
    if meta.image_size != FER2013.image_size and "input_size" in takes:  # others resize
        model["input_size"] = meta.image_size
    return model


def run(
    cfg: DictConfig, overrides: list[str] | None = None, group: str | None = None
) -> dict[str, Any]:
    """Train, select on val, test the selected checkpoint; return what metrics.json holds."""
    overrides = list(overrides or [])
    resume_from = None
    if cfg.get("resume"):
        cfg, resume_from = _resume_config(cfg, overrides)
    run_dir = Path(cfg.paths.output_dir)
    record: dict[str, Any] = {"status": "running", "overrides": overrides, "run_dir": str(run_dir)}
    write_json(run_dir / "metrics.json", record)
    started = time.perf_counter()
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    data = FERDataModule(
        **OmegaConf.to_container(cfg.data, resolve=True),
        augment=OmegaConf.to_container(cfg.augment, resolve=True),
        seed=cfg.seed,
    )
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    meta = dataset_meta(cfg.data.path)  # classes, size and channels come from the data
    system = EmotionClassifier(
        model=model_for_data(OmegaConf.to_container(cfg.model, resolve=True), meta),
        classes=list(meta.classes),
        input_size=meta.image_size,
        channels=meta.channels,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        label_smoothing=cfg.loss.label_smoothing,
        class_weights=data.class_weights() if cfg.loss.class_weights else None,
        channels_last=trainer_cfg["channels_last"],
        equalized=bool(OmegaConf.select(cfg, "preprocess.equalize", default=False)),
    )
    params = sum(p.numel() for p in system.net.parameters())
    stats = RunStats()
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
    name = run_name(overrides)
    hparams = OmegaConf.to_container(cfg, resolve=True) | {"params": params}
    trainer, loggers, precision = make_trainer(cfg, run_dir, name, group, hparams, callbacks)
    log.info("run %s: %s parameters, precision %s", name or run_dir.name, f"{params:,}", precision)
    experiment = wandb_experiment(loggers)
    if experiment is not None and group:
        link_into_sweep(experiment, Path(group))
    exit_code = 1
    try:
        trainer.fit(system, datamodule=data, ckpt_path=resume_from)
        if trainer.interrupted:
            raise KeyboardInterrupt
        best = checkpoint.best_model_path or None
        # The selected checkpoint's per-image predictions are the ones its metrics come from.
        system.record_predictions()
        val = trainer.validate(system, datamodule=data, ckpt_path=best, verbose=False)[0]
        predictions = {"val": system.recorded_predictions()}
        system.record_predictions()
        test = trainer.test(system, datamodule=data, ckpt_path=best, verbose=False)[0]
        predictions["test"] = system.recorded_predictions()
        if not trainer.is_global_zero:  # DDP: other ranks leave the recording to rank 0
            exit_code = 0
            return {
                "status": "completed",
                "val_acc_best": best_score(checkpoint),
            }
        for split, dataset in (("val", data.val_set), ("test", data.test_set)):
            # Evaluation loaders keep the split's order; Lightning's limit_*_batches,
            # fast_dev_run and overfit_batches evaluate its first batches only; DDP's padding
            # (the first images again) comes last and is cut.
            evaluated = dataset.index[: len(predictions[split]["labels"])]
            kept = {k: v[: len(evaluated)] for k, v in predictions[split].items()}
            write_predictions(run_dir / "predictions" / f"{split}.npz", evaluated, kept)
        if experiment is not None:  # what people sort runs by in the W&B table
            experiment.summary.update(
                {
                    "val/acc_best": best_score(checkpoint),
                    "test/acc": float(test["test/acc"]),
                    "params": params,
                    "train/images_per_s": round(stats.images_per_s, 1),
                }
            )
        if cfg.figures and best:
            # matplotlib and the evaluation code: imported only when figures are drawn
            from fer.analysis.run_figures import log_run_figures, write_run_figures

            test_set = data.test_set
            figures = write_run_figures(run_dir, Path(best), test_set.images, test_set.labels)
            if experiment is not None:
                log_run_figures(experiment, figures, test_set.images, test_set.labels, Path(best))
        exit_code = 0
    finally:
        if experiment is not None:
            experiment.finish(exit_code=exit_code)
    record.update(
        status="completed",
        val={k.removeprefix("val/"): float(v) for k, v in val.items()},
        test={k.removeprefix("test/"): float(v) for k, v in test.items()},
        val_acc_best=best_score(checkpoint),
        params=params,
        epochs=trainer.current_epoch,
        wall_time_s=round(time.perf_counter() - started, 2),
        train_images_per_s=round(stats.images_per_s, 1),
        precision=precision,
        hardware=hardware(),  # where it trained: times are read with it
        best_checkpoint=str(best),
    )
    write_json(run_dir / "metrics.json", record)
    log.info(
        "val acc %.4f, test acc %.4f (best epoch checkpoint %s)",
        record["val"]["acc"],
        record["test"]["acc"],
        best,
    )
    return record


def best_score(checkpoint: L.pytorch.callbacks.ModelCheckpoint) -> float:
    """The selected checkpoint's val accuracy; NaN only when there is none (0.0 is a score)."""
    score = checkpoint.best_model_score
    return float("nan") if score is None else float(score)


def make_trainer(
    cfg: DictConfig,
    run_dir: Path,
    name: str,
    group: str | None,
    hparams: dict[str, Any],
    callbacks: list[L.Callback],
) -> tuple[L.Trainer, list[Any], str]:
    """The Lightning Trainer of a run, its loggers (with a learning-rate monitor when there are
    any) and the resolved precision (bf16-mixed where the hardware supports it)."""
    loggers = build_loggers(
        OmegaConf.to_container(cfg.logger, resolve=True), run_dir, name, group, hparams
    )
    if loggers:
        callbacks = [*callbacks, L.pytorch.callbacks.LearningRateMonitor(logging_interval="epoch")]
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    precision = resolve_precision(trainer_cfg["precision"], trainer_cfg.get("accelerator", "auto"))
    trainer = L.Trainer(
        **{k: v for k, v in trainer_cfg.items() if k not in OWN_TRAINER_KEYS},
        precision=precision,
        default_root_dir=run_dir,
        callbacks=callbacks,
        logger=loggers or False,
    )
    return trainer, loggers, precision


def main(
    cfg: DictConfig,
    overrides: list[str],
    multirun: bool,
    group: str | None,
    run_fn: Callable[..., dict[str, Any]] = run,
    objective: str = "val_acc_best",
    ignored: Collection[str] = (),
) -> float:
    """Run and record how it ended; return the objective for sweepers (NaN when it failed).

    The run directory is held by this process for the run (a second process is refused). A
    re-run sweep skips its completed jobs and resumes interrupted ones from last.ckpt. Ctrl-C
    (SIGINT) and SIGTERM (what `timeout` and schedulers send) are recorded as `interrupted`,
    leaving last.ckpt to resume from. `run_fn` is `run` for train.py and `fer.pretrain.run` for
    pretrain.py. `ignored`: override keys that do not tell jobs apart (Hydra's
    `override_dirname.exclude_keys`): a completed job re-run with only those changed is skipped."""
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("resume"):
        try:  # the run being resumed is the one to hold; run() explains a bad path
            run_dir = resolve_checkpoint(cfg.resume, which="last").parent.parent
        except CheckpointError:
            pass
    program = Path(sys.argv[0]).name
    # DDP's other ranks re-run this script into the same directory: rank 0 holds it for them.
    rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0"
    try:
        with rundir.hold(run_dir) if rank_zero else contextlib.nullcontext():
            if multirun and rank_zero and "resume" in cfg and not cfg.get("resume"):
                attempt = rundir.previous_attempt(run_dir, overrides, ignored)
                if attempt == "completed":
                    record = json.loads((run_dir / "metrics.json").read_text())
                    log.info("%s completed in an earlier attempt: skipped", run_dir)
                    print(f"{program}: {run_dir}: completed before, skipped", file=sys.stderr)
                    return float(record.get(objective, float("nan")))
                if attempt == "resumable":
                    log.info("%s was interrupted: resuming from its last.ckpt", run_dir)
                    print(f"{program}: {run_dir}: interrupted before, resuming", file=sys.stderr)
                    cfg = cfg.copy()
                    cfg.resume = str(run_dir)
                elif (run_dir / "metrics.json").is_file():
                    print(
                        f"{program}: {run_dir}: failed or changed, starting over", file=sys.stderr
                    )
            return _run_and_record(cfg, overrides, multirun, group, run_fn, objective, run_dir)
    except rundir.RunDirBusy as e:
        print(f"{program}: error: {e}", file=sys.stderr)
        if not multirun:
            raise SystemExit(1) from None
        return float("nan")


def _run_and_record(
    cfg: DictConfig,
    overrides: list[str],
    multirun: bool,
    group: str | None,
    run_fn: Callable[..., dict[str, Any]],
    objective: str,
    run_dir: Path,
) -> float:
    stopped: list[int] = []  # signals received during the run

    def on_stop(signum: int, frame: Any) -> None:
        stopped.append(signum)
        raise KeyboardInterrupt  # Lightning stops gracefully, as on Ctrl-C

    # Both are recorded: the loader workers get the signal too, and their death may surface
    # first, as a RuntimeError, before the KeyboardInterrupt does.
    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    (run_dir / "error.log").unlink(missing_ok=True)  # an earlier attempt's, resumed or redone
    try:
        return run_fn(cfg, overrides, group)[objective]
    except (Exception, KeyboardInterrupt, SystemExit) as error:
        # Lightning ends a Ctrl-C with SystemExit; a SIGTERM to the process group may first kill
        # the loader workers, which surfaces as a RuntimeError: both are interruptions.
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit)) or bool(stopped)
        message = "interrupted" if interrupted else f"{error.__class__.__name__}: {error}"
        (run_dir / "error.log").write_text(traceback.format_exc())
        write_json(
            run_dir / "metrics.json",
            {
                "status": "interrupted" if interrupted else "failed",
                "error": message,
                "overrides": overrides,
                "run_dir": str(run_dir),
                "resumable": (run_dir / "checkpoints" / "last.ckpt").is_file(),
            },
        )
        print(
            f"{Path(sys.argv[0]).name}: error: {message} (run {run_dir}, traceback in error.log)",
            file=sys.stderr,
        )
        if interrupted or not multirun:
            raise SystemExit(130 if interrupted else 1) from None
        return float("nan")  # a sweeper (Optuna) records a failed trial and goes on
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
