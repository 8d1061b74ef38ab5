"""Beyond one process: joblib and submitit launchers, the Optuna sweeper, DDP on CPU."""

from __future__ import annotations

import json

import pytest
import yaml
from test_training import train_cli

from fer.analysis.compare import find_runs

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


def test_ddp_on_cpu_records_once(tiny_h5, tmp_path):
    result = train_cli(
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.sync_batchnorm=false",
        f"data.path={tiny_h5}",
        f"hydra.run.dir={tmp_path}",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "completed"
