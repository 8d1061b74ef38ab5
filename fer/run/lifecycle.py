"""A run's life, the same for training and pretraining: its directory held by one process,
its Trainer and loggers, a re-run sweep's skip-or-resume, and how it ended recorded in
`metrics.json` (running, completed, interrupted with a resumable last.ckpt, or failed with the
traceback in `error.log`).

`train.py` runs `run_job(cfg, ..., run_fn=fer.train.run)`, `pretrain.py` the same with
`fer.pretrain.run`; a `run_fn` builds its data and LightningModule, opens the record with
`start_record`, makes its Trainer with `make_trainer` and fits inside `wandb_finished`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fer.checkpoint import resolve_checkpoint
from fer.io import atomic_path, write_json
from fer.modelinfo import CheckpointError
from fer.models.factory import check_config
from fer.run import directory as rundir
from fer.run.callbacks import RunStats
from fer.run.checkpoint_io import AtomicCheckpointIO
from fer.run.loggers import build_loggers
from fer.run.provenance import PROVENANCE_KEY, now, provenance
from fer.runtime import hardware, resolve_precision

log = logging.getLogger(__name__)
OWN_TRAINER_KEYS = ("precision", "channels_last")  # handled here, not passed to L.Trainer as is


@dataclass
class Record:
    """A run's metrics.json as the run goes: `running` from the start, `completed` at the end."""

    run_dir: Path
    values: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the run came from (commit, data hash, versions, machine; see fer.run.provenance),
        also given to W&B as part of the run's config."""
        return self.values[PROVENANCE_KEY]

    def complete(
        self, trainer: L.Trainer, stats: RunStats, precision: str, **results: Any
    ) -> dict[str, Any]:
        """Mark the run completed with `results` and what every run records: epochs, wall
        time (a resumed run's earlier attempts included), training images/s, precision and the
        hardware it ran on; returns the record."""
        wall = stats.earlier_seconds + time.perf_counter() - self.started
        self.values.update(
            status="completed",
            **results,
            epochs=trainer.current_epoch,
            wall_time_s=round(wall, 2),
            train_images_per_s=round(stats.images_per_s, 1),
            precision=precision,
            hardware=hardware(),  # where it trained: times are read with it
        )
        self.provenance.update(precision=precision, ended_at=now())
        write_json(self.run_dir / "metrics.json", self.values)
        return self.values


def start_record(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> Record:
    """Mark the run as running in its metrics.json, with where it comes from, and seed
    everything."""
    trainer_cfg = cfg.get("trainer", {})
    precision = resolve_precision(
        trainer_cfg.get("precision", "auto"), trainer_cfg.get("accelerator", "auto")
    )
    values = {
        "status": "running",
        "overrides": overrides,
        "run_dir": str(run_dir),
        PROVENANCE_KEY: provenance(cfg.data.path, precision),
    }
    write_json(run_dir / "metrics.json", values)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return Record(run_dir, values)


@contextlib.contextmanager
def wandb_finished(experiment: Any) -> Iterator[None]:
    """Finish the W&B run (if any) on the way out: exit code 0 when the block completed (or
    returned), 1 when it raised."""
    exit_code = 1
    try:
        yield
        exit_code = 0
    finally:
        if experiment is not None:
            experiment.finish(exit_code=exit_code)


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
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, loggers, precision


def run_job(
    cfg: DictConfig,
    overrides: list[str],
    multirun: bool,
    group: str | None,
    run_fn: Callable[..., dict[str, Any]],
    objective: str = "val_acc_best",
    ignored: Collection[str] = (),
) -> float:
    """Run and record how it ended; return the objective for sweepers (NaN when it failed).

    The run directory is held by this process for the run (a second process is refused). A
    re-run sweep skips its completed jobs and resumes interrupted ones from last.ckpt. Ctrl-C
    (SIGINT) and SIGTERM (what `timeout` and schedulers send) are recorded as `interrupted`,
    leaving last.ckpt to resume from. `run_fn` is `fer.train.run` for train.py and
    `fer.pretrain.run` for pretrain.py. `ignored`: override keys that do not tell jobs apart
    (Hydra's `override_dirname.exclude_keys`): a completed job re-run with only those changed is
    skipped."""
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("resume"):
        try:  # the run being resumed is the one to hold; run() explains a bad path
            run_dir = resolve_checkpoint(cfg.resume, which="last").parent.parent
        except CheckpointError:
            pass
    program = Path(sys.argv[0]).name
    if not cfg.get("resume") and "model" in cfg:  # a combination that cannot be built: at once
        try:
            check_config(OmegaConf.to_container(cfg.model, resolve=True))
        except ValueError as e:
            print(f"{program}: error: {e}", file=sys.stderr)
            if not multirun:
                raise SystemExit(1) from None
            return float("nan")
    # DDP's other ranks re-run this script into the same directory: rank 0 holds it for them.
    rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0"
    try:
        with rundir.hold(run_dir) if rank_zero else contextlib.nullcontext():
            if rank_zero:
                save_hydra_files(cfg)
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


def save_hydra_files(cfg: DictConfig) -> None:
    """Write the job's `.hydra/` files (config.yaml, hydra.yaml, overrides.yaml, as Hydra writes
    them) into its output directory. The configs set `hydra.output_subdir: null` so that Hydra
    does not write them before the job starts: fer writes them once it holds the run directory,
    so a second run refused because the directory is in use leaves the first run's files as
    they were. Nothing happens outside a Hydra job."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.instance().cfg  # {"hydra": ...}, as Hydra saves it
    assert hydra_cfg is not None
    runtime = hydra_cfg.hydra
    files = {"config.yaml": cfg, "hydra.yaml": hydra_cfg, "overrides.yaml": runtime.overrides.task}
    for name, content in files.items():
        with atomic_path(Path(runtime.runtime.output_dir) / ".hydra" / name) as tmp:
            tmp.write_text(OmegaConf.to_yaml(content), encoding="utf-8")


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
    recording: list[bool] = []  # set once the ending is being recorded

    def on_stop(signum: int, frame: Any) -> None:
        stopped.append(signum)
        _quiet_worker_deaths()
        if not recording:  # a second signal must not break the recording of the first
            raise KeyboardInterrupt  # Lightning stops gracefully, as on Ctrl-C

    # Both are recorded: the loader workers get the signal too, and their death may surface
    # first, as a RuntimeError, before the KeyboardInterrupt does.
    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    # A resume of a completed run (e.g. to train longer) that fails keeps the completed record.
    completed = _completed_record(run_dir) if cfg.get("resume") else None
    (run_dir / "error.log").unlink(missing_ok=True)  # an earlier attempt's, resumed or redone
    try:
        return run_fn(cfg, overrides, group)[objective]
    except (Exception, KeyboardInterrupt, SystemExit) as error:
        recording.append(True)
        # Lightning ends a Ctrl-C with SystemExit; a SIGTERM to the process group may first kill
        # the loader workers, which surfaces as a RuntimeError: both are interruptions.
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit)) or bool(stopped)
        if interrupted:  # (a failed job of a sweep keeps torch's handler for the next jobs)
            _quiet_worker_deaths()
        first = (str(error).strip().splitlines() or [""])[0]  # one line; error.log has all
        message = "interrupted" if interrupted else f"{error.__class__.__name__}: {first}"
        kept = _record_ending(run_dir, overrides, message, interrupted, completed)
        print(
            f"{Path(sys.argv[0]).name}: error: {message} (run {run_dir}, {kept})",
            file=sys.stderr,
        )
        if interrupted or not multirun:
            raise SystemExit(130 if interrupted else 1) from None
        return float("nan")  # a sweeper (Optuna) records a failed trial and goes on
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _record_ending(
    run_dir: Path,
    overrides: list[str],
    message: str,
    interrupted: bool,
    completed: bytes | None,
) -> str:
    """Write error.log and metrics.json for a run that did not complete; say what was written.
    A failed resume of a completed run keeps its completed metrics.json. On a full disk the
    record may not be writable: the run's last.ckpt (written atomically) is still whole, and the
    message says what is missing instead of ending in a second traceback."""
    written = []
    try:
        with atomic_path(run_dir / "error.log") as tmp:
            tmp.write_text(traceback.format_exc())
        written.append("traceback in error.log")
        if completed is not None:  # a failed resume of a completed run loses none of its results
            with atomic_path(run_dir / "metrics.json") as tmp:
                tmp.write_bytes(completed)
            written.append("its completed metrics.json is kept")
        else:
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
    except OSError as e:
        written.append(f"its record could not be written: {e.strerror or e}")
    return "; ".join(written)


def _completed_record(run_dir: Path) -> bytes | None:
    """The bytes of `run_dir`'s metrics.json if it records a completed run, else None."""
    try:
        raw = (run_dir / "metrics.json").read_bytes()
        return raw if json.loads(raw).get("status") == "completed" else None
    except (OSError, ValueError, AttributeError):
        return None


def _quiet_worker_deaths() -> None:
    """Stop torch's SIGCHLD handler from raising "DataLoader worker ... is killed" in this
    process: once a run is stopping, its loader workers die with it (a signal to the process
    group reaches them too), and that exception, raised while the ending is being recorded,
    would replace the record with a traceback."""
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
