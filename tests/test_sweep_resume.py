"""True run statuses on Ctrl-C and SIGTERM, resumable sweeps, one live process per run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from fer.run.directory import RunDirBusy, hold, previous_attempt

from conftest import QUIET, REPO, read_metrics


def launch(tiny_h5: Path, *args: str, multirun: bool = False) -> subprocess.Popen:
    """train.py in its own process group (as a terminal or a scheduler would signal it), with a
    data-loader worker."""
    return subprocess.Popen(
        [
            sys.executable,
            "train.py",
            *(["-m"] if multirun else []),
            f"data.path={tiny_h5}",
            "model.width=8",  # 4 input channels hit slow oneDNN paths on AVX2-only CPUs
            "data.batch_size=16",
            "data.num_workers=1",
            "logger=csv",
            "figures=false",
            *QUIET,
            *args,
        ],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def complete(checkpoint: Path) -> bool:
    """Whether a checkpoint file is whole (torch writes a zip: its directory comes last)."""
    try:
        with zipfile.ZipFile(checkpoint) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def signal_after_first_epoch(process: subprocess.Popen, run_dir: Path, signum: int) -> str:
    """Send `signum` to the process group once `run_dir` has a whole last.ckpt (the event, not a
    clock: the training is then past its first epoch whatever the machine's speed); return
    stderr."""
    try:
        deadline = time.monotonic() + 300  # a generous bound on a wait, not a measured duration
        while not complete(run_dir / "checkpoints" / "last.ckpt"):
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        os.killpg(process.pid, signum)
        return process.communicate(timeout=300)[1]
    finally:  # a failed wait must not leave the training running
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def logged_epochs(run_dir: Path) -> list[int]:
    """The epochs a job's log reports finishing ("epoch 3/12: ..."), in order."""
    return [int(m) for m in re.findall(r"epoch (\d+)/\d+:", (run_dir / "train.log").read_text())]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_record_interrupted_with_a_resumable_checkpoint(
    tiny_h5, tmp_path, signum
):
    run_dir = tmp_path / "run"
    process = launch(tiny_h5, "trainer.max_epochs=500", f"hydra.run.dir={run_dir}")
    stderr = signal_after_first_epoch(process, run_dir, signum)
    assert process.returncode == 130, stderr[-2000:]
    record = read_metrics(run_dir)
    assert record["status"] == "interrupted" and record["resumable"], record
    assert "killed by signal" not in record["error"]


def test_rerun_sweep_skips_completed_jobs_and_resumes_the_interrupted_one(tiny_h5, tmp_path):
    """A sweep killed in its second job: re-run, the first job is untouched and the second
    resumes from its last.ckpt to the planned length; a third run skips both."""
    sweep = tmp_path / "sweep"
    args = ["seed=0,1", "trainer.max_epochs=12", f"hydra.sweep.dir={sweep}"]
    process = launch(tiny_h5, *args, multirun=True)
    stderr = signal_after_first_epoch(process, sweep / "1", signal.SIGTERM)
    assert read_metrics(sweep / "0")["status"] == "completed", stderr[-2000:]
    assert read_metrics(sweep / "1")["status"] == "interrupted", stderr[-2000:]
    assert (sweep / "1" / "error.log").is_file()
    first_job = (sweep / "0" / "metrics.json").read_bytes()
    first_mtime = (sweep / "0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns
    stopped = torch.load(sweep / "1" / "checkpoints" / "last.ckpt", weights_only=True)
    steps_per_epoch = stopped["global_step"] // (stopped["epoch"] + 1)
    logged_before = logged_epochs(sweep / "1")

    again = launch(tiny_h5, *args, multirun=True)
    stderr = again.communicate(timeout=600)[1]
    assert again.returncode == 0, stderr[-2000:]
    assert "0: completed before, skipped" in stderr
    assert "1: interrupted before, resuming" in stderr
    assert (sweep / "0" / "metrics.json").read_bytes() == first_job
    assert (sweep / "0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns == first_mtime
    second = read_metrics(sweep / "1")
    assert second["status"] == "completed" and second["epochs"] == 12
    # not started over: the second attempt trained only the epochs after the checkpoint's, and
    # its optimiser went on counting from the first attempt's steps
    logged = logged_epochs(sweep / "1")
    if logged[: len(logged_before)] == logged_before:  # the job's log is appended to
        logged = logged[len(logged_before) :]
    assert logged == list(range(stopped["epoch"] + 2, 13)), logged
    last = torch.load(sweep / "1" / "checkpoints" / "last.ckpt", weights_only=True)
    steps = {int(s["step"]) for s in last["optimizer_states"][0]["state"].values()}
    assert last["global_step"] == 12 * steps_per_epoch, (stopped["epoch"], last["epoch"])
    assert steps == {12 * steps_per_epoch}
    assert not (sweep / "1" / "error.log").exists()  # the interruption's, not this attempt's
    assert (sweep / "1" / "predictions" / "test.npz").is_file()

    third = launch(tiny_h5, *args, multirun=True)
    stderr = third.communicate(timeout=600)[1]
    assert third.returncode == 0, stderr[-2000:]
    assert stderr.count("completed before, skipped") == 2
    assert read_metrics(sweep / "1") == second


def test_rerun_with_only_unnamed_overrides_changed_skips_the_completed_job(tiny_h5, tmp_path):
    """A study names its jobs without some keys (data path, logger): re-run with only those
    changed, a completed job is the same job and is skipped, not trained over."""
    sweep = tmp_path / "sweep"
    args = [
        "seed=0",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        "hydra.job.config.override_dirname.exclude_keys=[data.path,trainer.log_every_n_steps]",
    ]
    first = launch(tiny_h5, *args, "trainer.log_every_n_steps=5", multirun=True)
    stderr = first.communicate(timeout=600)[1]
    assert first.returncode == 0, stderr[-2000:]
    (run_dir,) = [p.parent for p in sweep.glob("*/metrics.json")]
    record = (run_dir / "metrics.json").read_bytes()
    again = launch(tiny_h5, *args, "trainer.log_every_n_steps=7", multirun=True)
    stderr = again.communicate(timeout=600)[1]
    assert again.returncode == 0 and "completed before, skipped" in stderr, stderr[-2000:]
    assert (run_dir / "metrics.json").read_bytes() == record


def test_a_run_directory_belongs_to_one_live_process(tiny_h5, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with hold(run_dir):
        with pytest.raises(RunDirBusy, match=f"pid {os.getpid()}"):
            with hold(run_dir):
                pass
        (run_dir / "metrics.json").write_text(json.dumps({"status": "running"}))
        other = launch(tiny_h5, f"hydra.run.dir={run_dir}")
        stderr = other.communicate(timeout=300)[1]
        assert other.returncode == 1
        assert "is in use by a running process" in stderr.splitlines()[-1]
        assert read_metrics(run_dir) == {"status": "running"}  # the live run's record stays
    with hold(run_dir):  # released when its holder is done
        pass


def test_previous_attempt_reads_the_record(tmp_path):
    def record(status, overrides=("a=1",), last=False, ignored=()):
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / "last.ckpt").unlink(missing_ok=True)
        if last:
            (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
        (tmp_path / "metrics.json").write_text(
            json.dumps({"status": status, "overrides": list(overrides)})
        )
        return previous_attempt(tmp_path, ["a=1"], ignored)

    assert previous_attempt(tmp_path / "none", ["a=1"]) == "none"
    assert record("completed") == "completed"
    assert record("completed", overrides=("a=2",)) == "none"  # another job's directory
    assert record("interrupted", last=True) == "resumable"
    assert record("interrupted") == "none"  # nothing to resume from
    assert record("failed", last=True) == "none"
    # keys the sweep leaves out of its directory names do not make another job
    assert record("completed", ("a=1", "logger=csv"), ignored=("logger",)) == "completed"
    assert record("completed", ("a=2", "logger=csv"), ignored=("logger",)) == "none"
    assert record("completed", ("a=1", "logger=csv")) == "none"


def test_train_py_resume_continues_an_interrupted_run(tiny_h5, tmp_path):
    """`train.py resume=RUN_DIR` on a run stopped by Ctrl-C finishes it in its own directory."""
    run_dir = tmp_path / "run"
    process = launch(tiny_h5, "trainer.max_epochs=12", f"hydra.run.dir={run_dir}")
    signal_after_first_epoch(process, run_dir, signal.SIGINT)
    assert read_metrics(run_dir)["status"] == "interrupted"
    resumed = launch(tiny_h5, f"resume={run_dir}", f"hydra.run.dir={tmp_path / 'elsewhere'}")
    stderr = resumed.communicate(timeout=600)[1]
    assert resumed.returncode == 0, stderr[-2000:]
    record = read_metrics(run_dir)
    assert record["status"] == "completed" and record["epochs"] == 12
    assert (run_dir / "predictions" / "test.npz").is_file()


def test_a_refused_second_run_leaves_the_first_runs_hydra_files_as_they_were(tiny_h5, tmp_path):
    run_dir = tmp_path / "run"
    first = {"config.yaml": "seed: 7\n", "overrides.yaml": "- seed=7\n", "hydra.yaml": "a: 1\n"}
    (run_dir / ".hydra").mkdir(parents=True)
    for name, text in first.items():
        (run_dir / ".hydra" / name).write_text(text)
    with hold(run_dir):  # the first run, still running
        other = launch(tiny_h5, f"hydra.run.dir={run_dir}", "seed=3")
        stderr = other.communicate(timeout=300)[1]
    assert other.returncode == 1 and "is in use" in stderr.splitlines()[-1]
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").iterdir()} == first


def test_a_failed_resume_of_a_completed_run_keeps_its_record(tiny_h5, tmp_path):
    run_dir = tmp_path / "run"
    done = launch(tiny_h5, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")
    assert done.communicate(timeout=600) and done.returncode == 0
    hydra_files = {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
    assert set(hydra_files) == {"config.yaml", "hydra.yaml", "overrides.yaml"}  # fer wrote them
    record = (run_dir / "metrics.json").read_bytes()
    assert json.loads(record)["status"] == "completed"
    again = launch(
        tiny_h5,
        f"resume={run_dir}",
        "trainer.max_epochs=2",
        "optimizer.lr=abc",
        f"hydra.run.dir={tmp_path / 'elsewhere'}",
    )
    stderr = again.communicate(timeout=600)[1]
    assert again.returncode == 1 and "completed metrics.json is kept" in stderr, stderr[-2000:]
    assert (run_dir / "metrics.json").read_bytes() == record
    assert "Traceback" in (run_dir / "error.log").read_text()  # why it failed, beside the record
