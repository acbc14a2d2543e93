"""Run environment: device choice, seeding for determinism, thread count."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ganopt.errors import ConfigError


def select_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else the CPU; `cuda` without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but no CUDA GPU is visible; use device: auto or cpu.")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ConfigError(f"device '{name}' is not one of auto, cpu, cuda, cuda:<n>.")
    return torch.device(name)


def seed_everything(seed: int, cudnn_benchmark: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); keep cuDNN deterministic unless asked not to."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = cudnn_benchmark
        torch.backends.cudnn.deterministic = not cudnn_benchmark
    return torch.Generator().manual_seed(seed)


def limit_threads() -> None:
    """Use the thread count Snakemake gave the job (or OMP_NUM_THREADS), never every core per job."""
    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit() and int(n) > 0:
        torch.set_num_threads(int(n))
