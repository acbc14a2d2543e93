"""Provenance of a run: package versions, git commit, host and CUDA, for run.json and the report.
Torch-free to import (the report jobs record a commit without loading torch)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

PROVENANCE_PACKAGES = ("torch", "torchvision", "numpy", "mlflow", "snakemake", "clean-fid", "ganopt")


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
    import torch

    src = Path(__file__).resolve().parent
    return {
        "versions": package_versions(),
        "git_commit": git_commit(src),
        "host": platform.node(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,  # callers have torch loaded already
    }
