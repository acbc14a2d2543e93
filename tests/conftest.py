"""Shared fixtures: the repository root and a clean working directory per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside an empty temporary folder (relative `results/...` paths land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests share 2 cores with each other's subprocesses: keep torch to one thread."""
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


@pytest.fixture(scope="module")
def torch_one_thread():
    """In-process training runs single-threaded (as jobs do under Snakemake; fastest for tiny nets)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Small prepared ring8 and digits datasets for in-process training tests."""
    from ganopt.data import prepare_dataset

    root = tmp_path_factory.mktemp("data")
    prepare_dataset("ring8", {"n_train": 512, "n_test": 256}, root / "ring8")
    prepare_dataset("digits", {"size": 8}, root / "digits")
    return {"ring8": str(root / "ring8"), "digits": str(root / "digits")}


@pytest.fixture
def synced_run():
    """run(tracking section, run key) -> its MLflow run, after writing the journals into the store."""
    from mlflow.tracking import MlflowClient

    from ganopt.mlflow_sync import mlflow_run_id, sync_journals
    from ganopt.tracking import TrackingConfig

    def run(tracking: dict, key: str):
        cfg = TrackingConfig(**tracking)
        sync_journals(cfg)
        return MlflowClient(tracking_uri=cfg.uri).get_run(mlflow_run_id(cfg, key))

    return run


def run_snakemake(*args: str, cwd: Path = REPO, timeout: int = 1200) -> subprocess.CompletedProcess:
    """`snakemake -s <repo>/Snakefile ARGS`, output captured."""
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole DAG of config/smoke.yaml, run once per test session; returns its working folder."""
    work = tmp_path_factory.mktemp("smoke")
    proc = run_snakemake("--cores", "2", "--directory", str(work), "--configfile", str(REPO / "config" / "smoke.yaml"))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return work
