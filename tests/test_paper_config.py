"""config/paper.yaml: its data stage runs on a tiny CIFAR-10 folder in the official format, the
rest of the study dry-runs; bench/gpu_check.py fails soft without a GPU."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_data import make_tiny_cifar10

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    # the tiny folder cannot pass the official md5 sums; everything else is the paper config
    override = work / "no-md5.yaml"
    override.write_text("data: {cifar10: {verify_checksums: false}}\n")
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                           "--configfile", str(PAPER), str(override), *args], cwd=work, capture_output=True,
                          text=True, timeout=600)


def job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_paper_study_prepares_cifar10_and_dry_runs(tmp_path):
    paper = yaml.safe_load(PAPER.read_text())
    make_tiny_cifar10(tmp_path / paper["data"]["cifar10"]["root"])
    proc = snakemake(tmp_path, "--cores", "1", "results/data/cifar10/manifest.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = yaml.safe_load((tmp_path / "results/data/cifar10/manifest.json").read_text())
    assert manifest["shape"] == [3, 32, 32] and manifest["counts"] == {"train": 20, "test": 4}

    proc = snakemake(tmp_path, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert "prepare_data" not in counts  # done above
    # one job per optimizer trains (and one scores) its 5 seeds as one batched ResNet
    assert counts["train_gan"] == counts["compute_fid"] == counts["tune_lr"] == len(paper["gan"]["optimizers"]) == 11
    assert "seed0/status.json" in proc.stdout and "seed4/status.json" in proc.stdout


def test_paper_config_asks_for_what_the_study_says():
    """study.md A.4: ResNet WGAN-GP, batch 64, n_dis 5, 100k G steps, Adam (0, 0.9), linear decay, 50k FID."""
    from ganopt.optim import OPTIMIZERS

    gan, fid = (yaml.safe_load(PAPER.read_text())[k] for k in ("gan", "fid"))
    train = gan["datasets"]["cifar10"]["train"]
    assert (train["net"]["arch"], train["loss"], train["batch_size"], train["n_dis"], train["steps"]) == \
        ("resnet", "wgan_gp", 64, 5, 100_000)
    assert train["lr_decay"] == "linear" and gan["hparams"]["adam"]["betas"] == [0.0, 0.9]
    assert 2e-4 in gan["datasets"]["cifar10"]["optimizers"]["adam"]["grid"]  # WGAN-GP's step size
    assert sorted(gan["optimizers"]) == sorted(OPTIMIZERS) and len(gan["seeds"]) == 5
    assert gan["tune"]["activate"] and fid["sources"] == ["inception"] and fid["inception"]["n_samples"] == 50_000


def run_gpu_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), *args], capture_output=True,
                          text=True, timeout=900)


def test_gpu_check_fails_soft_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: run bench/gpu_check.py itself")
    proc = run_gpu_check()
    assert proc.returncode == 1
    assert proc.stderr.startswith("gpu_check: no CUDA GPU visible") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_gpu_check_code_path_on_cpu():
    """The whole check in its quick mode on tiny sizes: random CIFAR-10 files through the loader, every
    arm (S = 1 plain, compiled, bf16, both; S = 2 batched), the Inception FID (random weights: no file
    is needed) and the study's GPU-hours. The compiled arms capture graphs with the eager backend
    (inductor would build C++ kernels for minutes; test_session checks the compiled numbers)."""
    proc = run_gpu_check("--device", "cpu", "--quick", "--warmup", "1", "--steps", "1", "--width", "2", "--seeds", "2",
                         "--fid-samples", "10", "--inception", "random", "--compiler", "eager")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "random images in CIFAR-10 files, prepared by ganopt; inception: random weights" in proc.stdout
    for arm, seeds in (("plain", 1), ("compiled", 1), ("bf16", 1), ("compiled\\+bf16", 1), ("batched", 2)):
        assert re.search(rf"^{arm} +{seeds} +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+ +n/a$", proc.stdout, flags=re.M), arm
    assert "job:" not in proc.stdout  # --quick skips the train_gan job
    assert re.search(r"fid: +10 generated \+ 10 real images .* in [\d.]+ s = \d+ img/s.* FID [\d.]+ .*not a quality",
                     proc.stdout)
    assert re.search(r"paper study at these speeds: \d+ GPU-hours of tuning and training \(22 jobs, runs batched up "
                     r"to S = 2; every run alone: \d+\), plus [\d.]+ GPU-hours of FID \(10 per reported run\)",
                     proc.stdout)
