"""The reference study's configs: a one-at-a-time part's default is the grid's depth-4
batch-norm cell, so reading those runs as the part's baseline compares like with like."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
PARTS = sorted(p.stem for p in (REPO / "conf" / "study").glob("*.yaml"))
ONE_AT_A_TIME = [p for p in PARTS if p not in ("base", "grid")]
# What a part sets for its own values besides the swept axis, said in its config: the ViT trains
# at its own learning rate (conf/study/family.yaml), as each optimiser at its config group's.
OWN_SETTINGS = {"family": {"optimizer": {"lr": 5.0e-4}}}


def job_config(*overrides: str) -> dict:
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)


def test_there_are_one_at_a_time_parts():
    assert {"activation", "optimizer", "width"} <= set(ONE_AT_A_TIME)


@pytest.mark.parametrize("part", ONE_AT_A_TIME)
def test_a_parts_default_is_the_grids_baseline_cell_and_is_not_swept_again(part):
    grid_cell = job_config("study=grid", "model.depth=4", "model.norm=batch", "seed=1")
    own = OmegaConf.create(OWN_SETTINGS.get(part, {}))
    expected = OmegaConf.to_container(OmegaConf.merge(grid_cell, own), resolve=False)
    assert job_config(f"study={part}", "seed=1") == expected

    spec = yaml.safe_load((REPO / "conf" / "study" / f"{part}.yaml").read_text())
    (axis,) = [k for k in spec["hydra"]["sweeper"]["params"] if k != "seed"]
    values = str(spec["hydra"]["sweeper"]["params"][axis]).split(",")
    for value in values:  # every swept value changes the configuration
        assert job_config(f"study={part}", "seed=1", f"{axis}={value}") != grid_cell, value

    baseline = yaml.safe_load((REPO / "docs" / "study" / part / "baseline.yaml").read_text())
    assert baseline["runs"] == ["../grid/model.depth=4,model.norm=batch,seed=*"]
