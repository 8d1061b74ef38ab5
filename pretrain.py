"""Self-supervised pretraining (SimCLR): python pretrain.py [-m] [group=option] [key=value ...]."""

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="pretrain")
def main(cfg: DictConfig) -> float:
    from fer.pretrain import run  # imported late: `--help` stays fast
    from fer.run.lifecycle import run_job

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    group = hydra_cfg.sweep.dir if multirun else None
    overrides = list(hydra_cfg.overrides.task)
    ignored = list(hydra_cfg.job.config.override_dirname.exclude_keys)  # not the job's identity
    return run_job(
        cfg, overrides, multirun, group, run_fn=run, objective="knn_acc", ignored=ignored
    )


if __name__ == "__main__":
    main()
