"""Training via the Hydra config: run directories, repeatability, checkpoints, resume, sweeps."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from fer.checkpoint import load_model
from fer.data.hdf5 import data_identity, read_split
from fer.fer2013 import CLASSES
from fer.optim import SCHEDULERS, build_optimizer, build_scheduler, schedule_settings
from fer.preprocess import normalize
from fer.run.lifecycle import run_job
from fer.run.predictions import read_predictions
from fer.runtime import hardware, resolve_precision
from fer.system import EmotionClassifier
from fer.train import run

from conftest import QUIET, REPO, config, read_metrics


def test_composed_run_writes_its_run_directory(tiny_h5, tmp_path):
    record = run(config(tiny_h5, tmp_path, "trainer.max_epochs=6", "augment=none"))
    saved = read_metrics(tmp_path)
    assert saved == json.loads(json.dumps(record))
    assert saved["status"] == "completed" and saved["epochs"] == 6
    for split in ("val", "test"):
        assert_metrics_are_the_predictions(tmp_path, split, saved[split])
    model, _ = load_model(tmp_path)
    assert saved["params"] == sum(p.numel() for p in model.parameters())
    assert {"train_images_per_s", "wall_time_s"} <= saved.keys()  # times: bench_train.py's job
    assert saved["hardware"] == hardware()  # where it trained, for reading its times
    provenance = saved["provenance"]  # where it came from: code, data, libraries, machine
    assert provenance["data"] == data_identity(tiny_h5)
    assert len(provenance["data"]["content_sha256"]) == 64
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a checkout (CI's clone is one)
        assert provenance["commit"] == head.stdout.strip() and provenance["dirty"] in (True, False)
    assert provenance["versions"]["torch"] == torch.__version__.split("+")[0]
    assert provenance["precision"] == saved["precision"] and provenance["threads"] >= 1
    assert provenance["started_at"] <= provenance["ended_at"]
    assert saved["val"]["acc"] == pytest.approx(saved["val_acc_best"])
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert "val/acc" in (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert saved["val"]["acc"] > 0.5  # the synthetic classes are easy: it really learned


def test_same_seed_same_metrics(tiny_h5, tmp_path):
    first = run(config(tiny_h5, tmp_path / "a"))
    second = run(config(tiny_h5, tmp_path / "b"))
    other = run(config(tiny_h5, tmp_path / "c", "seed=1"))
    assert first["val"] == second["val"] and first["test"] == second["test"]
    assert first["val"] != other["val"]


def test_checkpoint_loads_weights_only_and_predicts_the_same(tiny_h5, tmp_path):
    run(
        config(tiny_h5, tmp_path, "model.norm=group", "model.residual=true", "trainer.precision=32")
    )
    best = tmp_path / "checkpoints" / "best.ckpt"
    raw = torch.load(best, map_location="cpu", weights_only=True)
    assert raw["fer"]["classes"][6] == "neutral" and raw["fer"]["model"]["norm"] == "group"
    model, info = load_model(tmp_path)  # a run directory works as well as the file
    images, labels = read_split(tiny_h5, "PrivateTest")
    with torch.no_grad():
        plain = model(normalize(torch.from_numpy(images), info.mean, info.std))
        system = EmotionClassifier.load_from_checkpoint(best, map_location="cpu", weights_only=True)
        lightning = system.eval()(torch.from_numpy(images))
    torch.testing.assert_close(plain, lightning)
    accuracy = (plain.argmax(1).numpy() == labels).mean()
    assert accuracy == pytest.approx(read_metrics(tmp_path)["test"]["acc"], abs=1e-6)


def logged_epochs(caplog: pytest.LogCaptureFixture) -> dict[int, str]:
    """{epoch: its 'train loss ... | val ...' line} from fer.system's end-of-epoch log."""
    epochs = {}
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "fer.system" and message.startswith("epoch "):
            number, rest = message.split(":", 1)
            epochs[int(number.split()[1].split("/")[0])] = rest.split("(best")[0]
    return epochs


class InterruptAt(logging.Handler):
    """Presses Ctrl-C when fer.system logs the end of `epoch`: a run stopped part-way, its
    last.ckpt from the epoch before."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.prefix = f"epoch {epoch}/"

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            raise KeyboardInterrupt


def test_resume_continues_from_last_checkpoint(tiny_h5, tmp_path, caplog):
    """A run interrupted in its second epoch of three and resumed trains only the epochs left,
    with the optimiser and the learning-rate schedule where they stopped: a resume that starts
    over, reloads only the weights, or restarts the schedule fails here. Its record counts the
    first attempt too: the images of all three epochs, and its wall time."""
    caplog.set_level(logging.INFO, logger="fer.system")
    run(config(tiny_h5, tmp_path / "whole", "trainer.max_epochs=3"))
    whole = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=True)
    steps_per_epoch = whole["global_step"] // 3

    cfg = config(tiny_h5, tmp_path / "run", "trainer.max_epochs=3")
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, tmp_path / "run" / ".hydra" / "config.yaml")  # as Hydra does for a run
    interrupt = InterruptAt(2)
    logging.getLogger("fer.system").addHandler(interrupt)
    try:
        with pytest.raises(SystemExit) as exit_:
            run_job(cfg, overrides=[], multirun=False, group=None, run_fn=run)
    finally:
        logging.getLogger("fer.system").removeHandler(interrupt)
    assert exit_.value.code == 130
    assert read_metrics(tmp_path / "run")["status"] == "interrupted"
    assert read_metrics(tmp_path / "run")["resumable"]
    stopped = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert stopped["global_step"] == steps_per_epoch  # one epoch done

    caplog.clear()
    started = time.perf_counter()
    record = run(
        config(tiny_h5, tmp_path / "new", f"resume={tmp_path / 'run'}"),
        overrides=[f"resume={tmp_path / 'run'}"],
    )
    this_attempt = time.perf_counter() - started
    resumed = [
        int(r.getMessage().split()[1].split("/")[0])
        for r in caplog.records
        if r.name == "fer.system" and r.getMessage().startswith("epoch ")
    ]
    assert resumed == [2, 3]  # only the epochs left: a restart would log epoch 1 again
    assert record["epochs"] == 3 and read_metrics(tmp_path / "run")["epochs"] == 3
    last = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert last["global_step"] == whole["global_step"]
    # the optimiser's own step count went on from the first attempt's (a fresh optimiser: 2/3)
    steps = {int(s["step"]) for s in last["optimizer_states"][0]["state"].values()}
    assert steps == {3 * steps_per_epoch}
    # the schedule went on too: same position and learning rate as the run never interrupted
    schedule, expected = last["lr_schedulers"][0], whole["lr_schedulers"][0]
    assert schedule["last_epoch"] == expected["last_epoch"] == 3 * steps_per_epoch
    assert schedule["_last_lr"] == pytest.approx(expected["_last_lr"])
    # the run's counts went on as well: all three epochs' images, the first attempt's time
    assert last["callbacks"]["RunStats"]["images"] == whole["callbacks"]["RunStats"]["images"]
    assert stopped["callbacks"]["RunStats"]["wall_seconds"] > 0
    assert record["wall_time_s"] > this_attempt  # this attempt alone is shorter


def test_last_checkpoint_is_the_last_epoch_even_without_improvement(tiny_h5, tmp_path):
    """With a vanishing learning rate and no batch norm, val accuracy never improves after epoch
    1: best.ckpt stays there, last.ckpt (what a resume continues from) must follow every epoch."""
    frozen = ["optimizer.lr=1e-12", "model.norm=none", "augment=none"]
    run(config(tiny_h5, tmp_path, "trainer.max_epochs=3", *frozen))
    best = torch.load(tmp_path / "checkpoints/best.ckpt", weights_only=True)
    last = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert best["epoch"] == 0 and last["epoch"] == 2
    assert last["global_step"] == 3 * best["global_step"]


def test_nan_loss_stops_the_run_with_a_clear_failure(tiny_h5, tmp_path, capsys):
    cfg = config(
        tiny_h5,
        tmp_path,
        "optimizer=sgd",
        "optimizer.lr=1e30",
        "model.norm=none",
        "trainer.precision=32",
    )
    with pytest.raises(SystemExit) as exit_:
        run_job(cfg, overrides=[], multirun=False, group=None, run_fn=run)
    assert exit_.value.code == 1
    saved = read_metrics(tmp_path)
    assert saved["status"] == "failed" and "diverged" in saved["error"]
    assert "diverged" in capsys.readouterr().err and (tmp_path / "error.log").is_file()
    assert math.isnan(
        run_job(cfg, overrides=[], multirun=True, group=None, run_fn=run)
    )  # a sweep goes on


def test_group_choices_and_value_overrides_compose(tiny_h5, tmp_path):
    cfg = config(
        tiny_h5,
        tmp_path,
        "norm=group",
        "activation=gelu",
        "pooling=stride",
        "optimizer=sgd",
        "scheduler=onecycle",
        "augment=strong",
        "model.depth=6",
    )
    assert (cfg.model.norm, cfg.model.activation, cfg.model.pooling) == ("group", "gelu", "stride")
    assert cfg.model.norm_groups == 8 and cfg.model.depth == 6
    assert cfg.optimizer.name == "sgd" and cfg.scheduler.name == "onecycle"
    assert config(tiny_h5, tmp_path, "model.norm=none").model.norm == "none"


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_builds_and_steps(name):
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = build_optimizer(params, {"name": "sgd", "lr": 0.1, "momentum": 0.9})
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "scheduler" / f"{name}.yaml"))
    settings |= {"warmup_epochs": 1} if "warmup_epochs" in settings else {}
    sched = build_scheduler(optimizer, settings, total_steps=20, steps_per_epoch=5)
    lrs = []
    for _ in range(20):
        optimizer.step()
        sched["scheduler"].step(0.5) if name == "plateau" else sched["scheduler"].step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert all(np.isfinite(lrs)) and max(lrs) <= 0.1 + 1e-9
    if name in ("cosine", "onecycle"):
        assert lrs[-1] < 0.01 and max(lrs) > 0.05


def test_a_scheduler_key_unknown_or_left_out_fails_in_one_line(tiny_h5, tmp_path):
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = build_optimizer(params, {"name": "sgd", "lr": 0.1})
    cosine = {"name": "cosine", "warmup_epochs": 1, "min_lr_ratio": 0.01}
    for settings, message in (
        (cosine | {"min_lr": 0.0}, "scheduler cosine: unknown key min_lr; it takes"),
        ({"name": "cosine", "warmup_epochs": 1}, "scheduler cosine: min_lr_ratio not set"),
    ):
        with pytest.raises(ValueError, match=message) as error:
            build_scheduler(optimizer, settings, total_steps=20, steps_per_epoch=5)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="unknown key min_lr"):
        run(config(tiny_h5, tmp_path / "run", "+scheduler.min_lr=0"))


def test_every_scheduler_config_is_one_the_code_reads():
    files = sorted(p.stem for p in (REPO / "conf" / "scheduler").glob("*.yaml"))
    assert files == sorted(SCHEDULERS)
    for name in files:
        settings = OmegaConf.to_container(
            OmegaConf.load(REPO / "conf" / "scheduler" / f"{name}.yaml")
        )
        assert schedule_settings(settings)[0] == name


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu sse2 avx2 fma avx512f avx512_bf16", "bf16-mixed"),  # AMD EPYC Genoa, Cooper Lake
        ("fpu sse2 avx2 amx_tile amx_bf16 amx_int8", "bf16-mixed"),  # Sapphire Rapids
        ("fpu sse2 avx2 fma avx512f avx512bw", "32-true"),  # AVX-512 without bf16 (Skylake-SP)
        ("fpu sse2 avx2 fma", "32-true"),  # AVX2 only: emulated bf16 would be slower
        ("", "32-true"),  # no /proc/cpuinfo (macOS, Windows)
    ],
)
def test_precision_auto_on_a_cpu_follows_its_bf16_support(flags, expected):
    assert resolve_precision("auto", "cpu", frozenset(flags.split())) == expected
    assert resolve_precision("32-true", "cpu", frozenset(flags.split())) == "32-true"


def test_precision_auto_resolves():
    assert resolve_precision("32-true") == "32-true"
    assert resolve_precision(32) == "32"  # trainer.precision=32 arrives as an int
    with pytest.raises(ValueError, match="valid choices"):
        resolve_precision("fp8")


def train_cli(*args, cwd=REPO, logger="csv"):
    """train.py in a subprocess with quick defaults; the caller's arguments come last, so a
    setting the test names is the one the run uses."""
    flags = [a for a in args if a.startswith("-")]  # -m, --cfg ...: before the overrides
    overrides = [a for a in args if not a.startswith("-")]
    return subprocess.run(
        [
            sys.executable,
            "train.py",
            *flags,
            *QUIET,
            f"logger={logger}",
            "data.num_workers=0",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            *overrides,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"WANDB_MODE": "offline"},
    )


def test_multirun_2x2_gives_four_recorded_runs_with_wandb_media(tiny_h5, tmp_path):
    result = train_cli(
        "-m",
        "model.depth=1,2",
        "model.norm=batch,none",
        f"data.path={tiny_h5}",
        "model.width=4",
        f"hydra.sweep.dir={tmp_path}",
        logger="wandb",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for job in range(4):
        run_dir = tmp_path / str(job)
        assert read_metrics(run_dir)["status"] == "completed"
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        assert (run_dir / "checkpoints" / "best.ckpt").is_file()
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        assert (run_dir / "figures" / "confusion_matrix.png").is_file()
        (wandb_run,) = (run_dir / "wandb").glob("offline-run-*")  # one W&B run per job
        media = [
            p.relative_to(wandb_run).as_posix()
            for p in wandb_run.rglob("media/**/*")
            if p.is_file()
        ]
        assert any("figures/confusion_matrix" in m for m in media)
        assert any("figures/filters_01" in m for m in media)
        assert any("table/test/predictions" in m for m in media)
    depths = {
        next(o for o in read_metrics(tmp_path / str(j))["overrides"] if "model.depth" in o)
        for j in range(4)
    }
    assert depths == {"model.depth=1", "model.depth=2"}
    # One place holds the whole sweep's W&B runs (wandb leet / wandb sync SWEEP/wandb).
    links = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(links) == 4 and all(link.is_symlink() for link in links)
    jobs = {link.resolve().parent.parent.name for link in links}
    assert jobs == {"0", "1", "2", "3"}
    assert all(list(link.glob("*.wandb")) for link in links)
    # The numbers people sort by are in every run's summary; fer-compare --wandb adds the CIs.
    from fer.cli.compare import main as compare_main

    for job in range(4):
        summary = wandb_summary(tmp_path / str(job) / "wandb")
        assert summary["test/acc"] == pytest.approx(
            read_metrics(tmp_path / str(job))["test"]["acc"]
        )
        assert summary["params"] == read_metrics(tmp_path / str(job))["params"]
        assert {"val/acc_best", "train/images_per_s"} <= set(summary)
        assert "compare/test_acc_ci_low" not in summary
    assert compare_main([str(tmp_path), "--wandb"]) == 0
    for job in range(4):
        summary = wandb_summary(tmp_path / str(job) / "wandb")
        low, high = summary["compare/test_acc_ci_low"], summary["compare/test_acc_ci_high"]
        assert low <= summary["compare/test_acc"] <= high


def wandb_summary(wandb_dir: Path) -> dict:
    """The summary updates of every offline W&B run in `wandb_dir`, later ones winning. wandb
    0.31 keeps an offline run's summary only in its .wandb file: LevelDB's log format (32 KiB
    blocks of chunks with a 7-byte header: CRC, length, type full/first/middle/last) after a
    7-byte W&B header, each record a protobuf `Record`."""
    from wandb.proto import wandb_internal_pb2 as pb

    summary = {}
    for path in sorted(wandb_dir.glob("*run-*/*.wandb")):
        data, pos, block, buf = path.read_bytes(), 7, 32768, b""
        while pos + 7 <= len(data):
            if block - pos % block < 7:  # a block's tail too short for a header: padding
                pos += block - pos % block
                continue
            length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
            buf = (b"" if kind in (1, 2) else buf) + data[pos + 7 : pos + 7 + length]
            pos += 7 + length
            if kind in (1, 4):  # a whole record, or the last chunk of one
                record = pb.Record()
                record.ParseFromString(buf)
                if record.WhichOneof("record_type") == "summary":
                    for item in record.summary.update:
                        key = "/".join(item.nested_key) or item.key
                        summary[key] = json.loads(item.value_json)
    return summary


def test_failing_job_is_recorded_and_the_sweep_goes_on(tiny_h5, tmp_path):
    result = train_cli(
        "-m",
        "model.pooling=max,sideways",
        f"data.path={tiny_h5}",
        "model.width=4",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_metrics(tmp_path / "0")["status"] == "completed"
    failed = read_metrics(tmp_path / "1")
    assert (
        failed["status"] == "failed" and "valid choices: max, avg, stride, none" in failed["error"]
    )


def test_single_run_refuses_a_bad_value_in_one_line(tiny_h5, tmp_path):
    result = train_cli("model.norm=weird", f"data.path={tiny_h5}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert (
        "unknown norm 'weird'; valid choices: batch, group, layer, instance, none" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_run_keeps_the_selected_checkpoints_per_image_predictions(tiny_run, tiny_h5):
    """predictions/{val,test}.npz are the predictions metrics.json reports, row by row."""
    metrics = read_metrics(tiny_run)
    for split, usage in (("val", "PublicTest"), ("test", "PrivateTest")):
        predictions = read_predictions(tiny_run, split)
        labels = read_split(tiny_h5, usage)[1]
        assert predictions["probs"].dtype == np.float32
        assert predictions["labels"].dtype == predictions["index"].dtype == np.int64
        assert sorted(predictions["index"]) == list(range(len(labels)))
        np.testing.assert_array_equal(predictions["labels"], labels[predictions["index"]])
        np.testing.assert_allclose(predictions["probs"].sum(1), 1, atol=1e-5)
        assert_metrics_are_the_predictions(tiny_run, split, metrics[split])
    assert read_predictions(tiny_run / "nowhere", "val") is None


def assert_metrics_are_the_predictions(run_dir, split: str, recorded: dict) -> None:
    """A run's recorded scores on `split` are those of its per-image predictions (scikit-learn's
    definitions; the loss is the cross-entropy of the stored probabilities, bf16 aside)."""
    predictions = read_predictions(run_dir, split)
    labels, probs = predictions["labels"], predictions["probs"].astype(np.float64)
    predicted, classes = probs.argmax(1), list(range(len(CLASSES)))
    macro = {"labels": classes, "average": "macro", "zero_division": 0}
    assert recorded["acc"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    assert recorded["precision"] == pytest.approx(precision_score(labels, predicted, **macro))
    assert recorded["recall"] == pytest.approx(recall_score(labels, predicted, **macro))
    assert recorded["f1_macro"] == pytest.approx(f1_score(labels, predicted, **macro))
    disgust = recall_score(labels, predicted, labels=[CLASSES.index("disgust")], average=None)
    assert recorded["recall_disgust"] == pytest.approx(disgust[0])
    loss = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    assert recorded["loss"] == pytest.approx(loss, rel=0.02, abs=0.01)


def test_bench_train_without_a_dataset_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/bench/bench_train.py", f"data.path={tmp_path / 'none.h5'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bench_train: error: {tmp_path / 'none.h5'}: no such dataset file; convert FER2013 "
        f"first: fer-prepare SOURCE -o {tmp_path / 'none.h5'}"
    ]
