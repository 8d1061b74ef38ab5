"""Training throughput: fer's real training loop against a plain fp32 PyTorch loop.

    python scripts/bench/bench_train.py [train.py overrides ...] [--steps 60]

Both use the model and batch size that the overrides select. The plain loop is what a notebook
does: fp32, NCHW, no compile, tensors already in memory, no augmentation. The real loop is
`train.py` itself (Lightning, the DataModule with augmentation, bf16/channels-last where
supported) for `--steps` batches of one epoch. Prints images/s of both and the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from fer.data.hdf5 import DatasetError, read_split
from fer.models import build_model
from fer.optim import build_optimizer
from fer.preprocess import normalize
from fer.runtime import cpu_name, cpu_supports_bf16, resolve_precision
from fer.train import run

CONF = Path(__file__).resolve().parents[2] / "conf"


def plain_loop(
    cfg: DictConfig, images: torch.Tensor, labels: torch.Tensor, steps: int, warmup: int
) -> float:
    """images/s of fp32 NCHW train steps on in-memory tensors."""
    torch.manual_seed(0)
    model = build_model(dict(cfg.model)).train()
    optimizer = build_optimizer(model.parameters(), dict(cfg.optimizer))
    batch = cfg.data.batch_size
    x_all = normalize(images)  # (N, 1, 48, 48) float32
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        i = (step * batch) % (len(labels) - batch)
        loss = F.cross_entropy(model(x_all[i : i + batch]), labels[i : i + batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. model.width=48")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per loop")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps of the plain loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *args.overrides,
                f"paths.output_dir={tmp}",
                "logger=none",
                "trainer.max_epochs=1",
                f"trainer.limit_train_batches={args.steps}",
                "data.eval_limit=256",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "trainer.num_sanity_val_steps=0",
            ],
        )
        try:
            images, labels = read_split(cfg.data.path, "Training")
        except DatasetError as e:
            raise SystemExit(f"bench_train: error: {e}") from None
        n = (args.warmup + args.steps) * cfg.data.batch_size + cfg.data.batch_size
        plain = plain_loop(
            cfg, torch.from_numpy(images[:n]), torch.from_numpy(labels[:n]), args.steps, args.warmup
        )
        real = run(cfg)["train_images_per_s"]
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()
    bf16 = "native bf16" if cpu_supports_bf16() else "no native bf16"
    print(f"device: {device} ({os.cpu_count()} cores, {bf16}), torch {torch.__version__}")
    print(
        f"model: {cfg.model.name} depth={cfg.model.depth} width={cfg.model.width}, "
        f"batch {cfg.data.batch_size}, {args.steps} steps"
    )
    print(f"plain fp32 NCHW loop:          {plain:8.1f} images/s")
    print(f"fer training loop ({precision}): {real:8.1f} images/s")
    print(f"ratio:                         {real / plain:8.2f}x")


if __name__ == "__main__":
    main()
