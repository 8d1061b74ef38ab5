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
# The parts of the first study, around the grid's cell (their runs in docs/study/<part>/); the
# blocked re-run's `ablation` part trains its own default in every block instead.
ONE_AT_A_TIME = [p for p in PARTS if p not in ("base", "grid", "ablation")]
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


def test_the_ablation_blocks_default_is_the_default_recipe_and_each_variant_changes_it():
    spec = yaml.safe_load((REPO / "conf" / "study" / "ablation.yaml").read_text())
    variants = spec["hydra"]["sweeper"]["params"]["variant"].split(",")
    assert variants[0] == "default" and "seed" not in spec["hydra"]["sweeper"]["params"]
    default = job_config("study=ablation", "variant=default", "seed=1")
    assert default == job_config("study=ablation", "seed=1")  # `default` changes nothing
    assert default["trainer"]["precision"] == "32-true"  # one precision for the re-run
    configs = [job_config("study=ablation", f"variant={v}", "seed=1") for v in variants[1:]]
    for variant, config in zip(variants[1:], configs):
        assert config != default, variant
    assert len({str(c) for c in configs}) == len(configs)  # no two variants alike
