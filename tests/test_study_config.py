"""The reference study's configs: every one-at-a-time part trains its own default in each block,
so a variant is compared with a baseline trained beside it (same commit, host and seed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
PARTS = sorted(p.stem for p in (REPO / "conf" / "study").glob("*.yaml"))
BLOCKED = [p for p in PARTS if p not in ("base", "grid", "family")]  # swept by `variant`


def job_config(*overrides: str) -> dict:
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)


def test_the_assignments_one_at_a_time_parts_are_there():
    assert {"optimizer", "activation", "pooling", "augment", "width", "kernel"} <= set(BLOCKED)


@pytest.mark.parametrize("part", BLOCKED)
def test_a_parts_block_trains_the_default_first_and_each_variant_changes_it(part):
    spec = yaml.safe_load((REPO / "conf" / "study" / f"{part}.yaml").read_text())
    params = spec["hydra"]["sweeper"]["params"]
    assert "seed" not in params  # a block is one seed: `make study SEEDS=...` picks them
    variants = params["variant"].split(",")
    assert variants[0] == "default"
    default = job_config(f"study={part}", "variant=default", "seed=1")
    assert default == job_config(f"study={part}", "seed=1")  # `default` changes nothing
    assert default == job_config("study=grid", "model.depth=4", "model.norm=batch", "seed=1")
    assert default["trainer"]["precision"] == "32-true"  # one precision for the re-run
    configs = [job_config(f"study={part}", f"variant={v}", "seed=1") for v in variants[1:]]
    for variant, config in zip(variants[1:], configs):
        assert config != default, variant
    assert len({str(c) for c in configs}) == len(configs)  # no two variants alike
