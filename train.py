"""Train (or sweep) emotion classifiers: python train.py [-m] [group=option] [key=value ...]."""

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from fer.run.lifecycle import run_job  # imported late: `--help` stays fast
    from fer.train import run

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    group = hydra_cfg.sweep.dir if multirun else None
    ignored = list(hydra_cfg.job.config.override_dirname.exclude_keys)  # not the job's identity
    return run_job(cfg, list(hydra_cfg.overrides.task), multirun, group, run, ignored=ignored)


if __name__ == "__main__":
    main()
