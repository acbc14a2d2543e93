"""Vectorized seeds (ganopt.gan.vectorized): one batched model gives each seed the numbers of its
one-seed run, for every registry optimizer; reruns and a kill + resume give identical numbers."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganopt.data import load_prepared
from ganopt.errors import ConfigError
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.session import GanSession, RunSpec, TrainConfig
from ganopt.gan.train import seed_jobs, train_gan, train_gan_seeds, train_gan_seeds_job
from ganopt.gan.tune import TuneJob, tune_lr
from ganopt.gan.vectorized import VectorSession
from ganopt.optim import OPTIMIZERS

ROOT = Path(__file__).resolve().parents[1]
TINY_MLP = {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1}
SEEDS = [0, 1, 2]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def seeds_job(data_dirs, dataset="ring8", optimizer="adam", **train) -> dict:
    cfg = {"steps": 12, "batch_size": 16, "metrics_every": 1, "norms_every": 1, "log_every": 10,
           "checkpoint_every": 10, "snapshot_every": 10, "net": TINY_MLP} | train
    return {"dataset": dataset, "optimizer": optimizer, "seeds": SEEDS, "data_dir": data_dirs[dataset],
            "lr_g": 1e-2, "lr_d": 1e-2, "train": cfg, "tracking": {"enabled": False}, "device": "cpu"}


def numbers(path: Path) -> list[list[float]]:
    with open(path, newline="") as handle:
        return [[float(v) for k, v in row.items() if k not in ("time/sec_per_step", "player", "param")]
                for row in csv.DictReader(handle)]


def assert_same_runs(a: Path, b: Path, exact: bool) -> None:
    for seed in SEEDS:
        for name in ("metrics.csv", "norms.csv"):
            x, y = numbers(a / f"seed{seed}" / name), numbers(b / f"seed{seed}" / name)
            assert len(x) == len(y) > 0, name
            if exact:
                assert x == y, f"seed{seed}/{name}"
            else:
                torch.testing.assert_close(torch.tensor(x), torch.tensor(y), rtol=1e-4, atol=1e-6)
        ckpts = [torch.load(d / f"seed{seed}" / "checkpoint.pt", weights_only=True) for d in (a, b)]
        for key, value in ckpts[1]["G"].items():
            if exact:
                assert torch.equal(ckpts[0]["G"][key], value), key
            else:
                torch.testing.assert_close(ckpts[0]["G"][key], value, rtol=1e-4, atol=1e-6)
        assert json.loads((a / f"seed{seed}" / "status.json").read_text()) == \
            json.loads((b / f"seed{seed}" / "status.json").read_text())


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_vectorized_equals_one_seed_path(data_dirs, tmp_path, optimizer):
    jobs = seed_jobs(seeds_job(data_dirs, optimizer=optimizer))
    train_gan_seeds(jobs, tmp_path / "vec")
    for job in jobs:
        train_gan(job, tmp_path / "one" / f"seed{job.seed}")
    assert_same_runs(tmp_path / "vec", tmp_path / "one", exact=False)


@pytest.mark.parametrize("settings", [
    {"loss": "wgan_gp", "scheme": "alternating", "n_dis": 2},
    {"lr_decay": "linear", "loss": "minimax"},
])
def test_vectorized_images_penalty_and_decay(data_dirs, tmp_path, settings):
    jobs = seed_jobs(seeds_job(data_dirs, dataset="digits", optimizer="adalr", **settings))
    train_gan_seeds(jobs, tmp_path / "vec")
    for job in jobs:
        train_gan(job, tmp_path / "one" / f"seed{job.seed}")
    assert_same_runs(tmp_path / "vec", tmp_path / "one", exact=False)


def test_grid_points_and_a_diverging_run_in_one_batch(data_dirs):
    """Runs with their own step sizes (a tuning grid); the one that diverges stops alone."""
    data = load_prepared(data_dirs["ring8"])
    train = TrainConfig(steps=15, batch_size=16, net=NetConfig(**TINY_MLP))
    specs = [RunSpec("adadir", lr, lr, seed, train) for lr, seed in ((1e-2, 5), (1e30, 5), (3e-2, 6))]
    vec = VectorSession(specs, data, torch.device("cpu"))
    reasons = vec.run(train.steps)
    assert reasons[0] is None and reasons[2] is None and reasons[1] is not None
    assert vec.active == [True, False, True]
    for k in (0, 2):
        one = GanSession(specs[k], data, torch.device("cpu"))
        assert one.run(train.steps) is None
        for key, value in one.G.state_dict().items():
            torch.testing.assert_close(vec.seed(k).G.state_dict()[key], value, rtol=1e-4, atol=1e-6)


def test_vectorized_reruns_are_identical(data_dirs, tmp_path):
    jobs = seed_jobs(seeds_job(data_dirs, optimizer="nsgda_global"))
    train_gan_seeds(jobs, tmp_path / "a")
    train_gan_seeds(jobs, tmp_path / "b")
    assert_same_runs(tmp_path / "a", tmp_path / "b", exact=True)


def test_seeds_job_errors(data_dirs, tmp_path):
    with pytest.raises(ConfigError, match="seeds"):
        seed_jobs({**seeds_job(data_dirs), "seeds": []})
    with pytest.raises(ConfigError, match="vectorize"):
        train_gan_seeds_job({**seeds_job(data_dirs), "vectorize": "yes"}, tmp_path)


def test_kill_and_resume_gives_identical_numbers(data_dirs, tmp_path):
    job = seeds_job(data_dirs, steps=600, checkpoint_every=20, snapshot_every=200, norms_every=20, metrics_every=5)
    train_gan_seeds(seed_jobs(job), tmp_path / "ref")
    job["resume"] = str(tmp_path / "state")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))

    def cli() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ganopt.cli", "train-gan-seeds", "--config", json.dumps(job),
                                 "--out", str(tmp_path / "run")], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    first = cli()
    last_seed = tmp_path / "state" / f"seed{SEEDS[-1]}" / "resume.pt"
    deadline = time.time() + 240
    while not last_seed.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (tmp_path / "run" / f"seed{SEEDS[0]}" / "status.json").exists(), "ended before it was killed"
    second = cli()
    log = second.communicate(timeout=300)[0]
    assert second.returncode == 0, log
    assert log.count("resuming from") == len(SEEDS) and "afresh" not in log, log
    assert_same_runs(tmp_path / "run", tmp_path / "ref", exact=True)
    assert not any((tmp_path / "state").rglob("resume.pt"))


def test_vectorized_tuning_equals_one_by_one(data_dirs, tmp_path):
    train = TrainConfig(steps=15, batch_size=16, net=NetConfig(**TINY_MLP))
    results = [tune_lr(TuneJob(dataset="ring8", optimizer="nsgda_layer", data_dir=data_dirs["ring8"],
                               grid=[0.01, [0.03, 0.01], 1e30], seeds=[7, 8], train=train, eval_samples=200,
                               vectorize=mode), tmp_path / mode) for mode in ("auto", "off")]
    assert results[0]["grid"][2]["status"] == ["diverged", "diverged"]
    assert (results[0]["lr_g"], results[0]["lr_d"]) == (results[1]["lr_g"], results[1]["lr_d"])
    for a, b in zip(results[0]["grid"], results[1]["grid"]):
        assert a["status"] == b["status"]
        finite = [(x, y) for x, y in zip(a["scores"], b["scores"]) if x is not None or y is not None]
        assert [x for x, _ in finite] == pytest.approx([y for _, y in finite], rel=1e-3, abs=1e-4)


def test_cli_writes_the_jobs_timing_record(data_dirs, tmp_path):
    from ganopt.cli import main

    job = seeds_job(data_dirs, steps=5)
    assert main(["train-gan-seeds", "--config", json.dumps(job), "--out", str(tmp_path / "run"),
                 "--timing", str(tmp_path / "timing.json")]) == 0
    record = json.loads((tmp_path / "timing.json").read_text())
    assert record["command"] == "train-gan-seeds"
    assert record["wall_s"] >= record["phases"]["loop"] > 0 and record["max_rss_mb"] > 0
    assert all((tmp_path / "run" / f"seed{seed}" / "status.json").exists() for seed in SEEDS)
