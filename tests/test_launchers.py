"""Beyond one process: joblib and submitit launchers, the Optuna sweeper, DDP on CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from test_training import train_cli

from fer.analysis.evaluate import evaluate
from fer.data.hdf5 import read_split
from fer.run.predictions import read_predictions
from fer.run.records import find_runs

TINY = ["model.width=4", "figures=false", "data.eval_limit=28"]


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_launchers_write_normal_run_directories(tiny_h5, tmp_path, launcher):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    result = train_cli(
        "-m",
        f"hydra/launcher={launcher}",
        *extra,
        "model.depth=1,2",
        f"data.path={tiny_h5}",
        "data.num_workers=1",
        f"hydra.sweep.dir={tmp_path}",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = find_runs([str(tmp_path)])
    assert [r.status for r in runs] == ["completed", "completed"]
    assert {r.axes["model.depth"] for r in runs} == {"1", "2"}
    # the runs used the loader workers the test asked for (not a later default)
    for r in runs:
        assert (
            yaml.safe_load((r.path / ".hydra" / "config.yaml").read_text())["data"]["num_workers"]
            == 1
        )


def test_optuna_search_records_its_best_trial(tiny_h5, tmp_path):
    result = train_cli(
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=1",
        f"data.path={tiny_h5}",
        f"hydra.sweep.dir={tmp_path}",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    values = [
        json.loads((tmp_path / str(j) / "metrics.json").read_text())["val_acc_best"]
        for j in range(2)
    ]
    assert best["best_value"] == pytest.approx(max(values))
    # model.width is fixed on the command line (TINY), so the sweeper does not search it
    assert set(best["best_params"]) == {"optimizer.lr", "model.dropout", "loss.label_smoothing"}


def test_ddp_on_cpu_records_once_what_one_process_evaluates(tiny_h5, tmp_path):
    """Two processes train; the record, metrics and per-image predictions are written once, for
    every test face once, and equal a single-process fer-eval of the same checkpoint."""
    run_dir = tmp_path / "ddp"
    result = train_cli(
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.sync_batchnorm=false",
        "trainer.precision=32-true",  # as fer-eval on CPU: the two can agree exactly
        f"data.path={tiny_h5}",
        f"hydra.run.dir={run_dir}",
        "model.width=8",
        "augment=none",
        "trainer.max_epochs=3",  # enough to predict more than one class: a telling comparison
        "figures=false",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed"
    header, *rows = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    val_acc = header.split(",").index("val/acc")
    # each epoch's and the selected checkpoint's validation, each logged once (not per process)
    assert len([r for r in rows if r.split(",")[val_acc]]) == 3 + 1

    test = read_predictions(run_dir, "test")
    _, labels = read_split(tiny_h5, "PrivateTest")
    assert sorted(test["index"]) == list(range(len(labels)))  # each face once, none padded
    np.testing.assert_array_equal(test["labels"], labels[test["index"]])

    assert len(set(test["probs"].argmax(1))) > 1
    single = evaluate(run_dir, "test", out=str(tmp_path / "eval"), log_wandb=False)
    assert single["n"] == len(labels)
    assert record["test"]["acc"] == pytest.approx(single["accuracy"], abs=1e-6)
    assert record["test"]["precision"] == pytest.approx(single["precision_macro"], abs=1e-6)
    assert record["test"]["recall"] == pytest.approx(single["recall_macro"], abs=1e-6)
    assert (test["probs"].argmax(1) == test["labels"]).mean() == pytest.approx(single["accuracy"])
