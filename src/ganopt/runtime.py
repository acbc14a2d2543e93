"""Run environment: device choice, seeding for determinism, provenance (versions, git commit)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from ganopt.errors import ConfigError

PROVENANCE_PACKAGES = ("torch", "torchvision", "numpy", "mlflow", "snakemake", "clean-fid", "ganopt")


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


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers, for run.json and MLflow tags."""
    out = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(path: str | os.PathLike = ".") -> str:
    """The checked-out commit (with '+dirty' when tracked files changed), or 'unknown' outside git."""
    here = Path(path).resolve()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def provenance() -> dict[str, object]:
    """What run.json records besides the config: versions, commit, host, device."""
    src = Path(__file__).resolve().parent
    return {
        "versions": package_versions(),
        "git_commit": git_commit(src),
        "host": platform.node(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }
