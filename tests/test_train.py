"""Training loop, outputs, resume after a kill, divergence, tuning, scores and the gan config schema."""

import copy
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
import yaml

from ganopt import io
from ganopt.config import SCHEMA_DIR, load_config, validate_config
from ganopt.data import load_prepared
from ganopt.errors import ConfigError, GanoptError
from ganopt.gan.checkpoint import load_generator, sample
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.scores import pixel_features, score_samples
from ganopt.gan.session import TrainConfig
from ganopt.gan.train import TrainJob, train_gan
from ganopt.gan.tune import TuneJob, config_points, grid_edge, tune_lr
from ganopt.metrics.fid import frechet, gaussian_stats
from ganopt.optim import OPTIMIZERS

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("metrics.csv", "norms.csv", "samples.png", "checkpoint.pt", "run.json", "status.json")
TINY_MLP = {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One MLflow store for the module (creating a sqlite store costs seconds); one experiment per test."""
    root = tmp_path_factory.mktemp("mlflow")
    return lambda experiment: {"enabled": True, "uri": f"sqlite:///{root}/mlflow.db",
                               "artifact_location": str(root / "artifacts"), "experiment": experiment,
                               "journal": str(root / "journal")}


def job_dict(data_dirs, dataset="ring8", optimizer="adam", seed=0, **train) -> dict:
    cfg = {"steps": 30, "batch_size": 16, "metrics_every": 5, "norms_every": 10, "log_every": 10,
           "checkpoint_every": 10, "snapshot_every": 10, "net": TINY_MLP} | train
    return {"dataset": dataset, "optimizer": optimizer, "seed": seed, "data_dir": data_dirs[dataset],
            "lr_g": 1e-3, "lr_d": 1e-3, "train": cfg, "tracking": {"enabled": False}, "device": "cpu"}


def as_job(d: dict) -> TrainJob:
    from ganopt.config import from_dict

    return from_dict(TrainJob, d)


def train_one(job: TrainJob, out: Path) -> str:
    """One seed trained as a batch of one: its run folder is out/seed<seed>; its status."""
    return train_gan([job], out)[0]


def read_rows(path: Path, drop=("time/sec_per_step",)) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(handle)]


# --- config and schema -------------------------------------------------------------------------

def _gan_schema() -> dict:
    return yaml.safe_load((SCHEMA_DIR / "gan.schema.yaml").read_text())


def test_schema_optimizer_enum_is_the_registry():
    assert _gan_schema()["$defs"]["optimizer"]["enum"] == list(OPTIMIZERS)


def test_schema_hparams_are_the_registrys():
    """gan.hparams accepts for each optimizer exactly the hyperparameters its registry parts take
    (the config check reads the schema only, so it needs no torch)."""
    schema = _gan_schema()
    hparams = schema["properties"]["hparams"]
    for name, spec in OPTIMIZERS.items():
        ref = hparams["properties"].get(name, hparams["additionalProperties"])["$ref"]
        node = schema["$defs"][ref.removeprefix("#/$defs/")]
        assert set(node.get("properties", {})) == set(spec.hparams), name


def test_default_study_covers_the_core_optimizers():
    gan = load_config(ROOT / "config.yaml")["gan"]
    assert gan["optimizers"] == ["sgda", "adam", "adalr", "adadir", "nsgda_layer", "nsgda_global"]
    assert set(gan["datasets"]) == {"ring8", "digits"} and len(gan["seeds"]) >= 5


@pytest.mark.parametrize("edit,message", [
    (lambda g: g["tune"].update(seeds=[0, 100]), "'gan.tune.seeds': seed(s) [0] are also in gan.seeds"),
    (lambda g: g["datasets"]["ring8"]["optimizers"].pop("adam"), "'gan.datasets.ring8.optimizers': no step sizes"),
    (lambda g: g["hparams"].update(sgda={"betas": [0.5, 0.9]}), "'gan.hparams.sgda': unknown key(s) 'betas' (allowed: none)"),
    (lambda g: g["hparams"].update(adalr={"momentum": 0.5}), "'gan.hparams.adalr': unknown key(s) 'momentum' (allowed: betas, eps)"),
    (lambda g: g["datasets"]["ring8"]["optimizers"]["adam"].update(lr_g=0.1),
     "'gan.datasets.ring8.optimizers.adam.lr_g': not used while gan.tune.activate is true: put step sizes in grid"),
    (lambda g: g["tune"].update(activate=False),
     "'gan.datasets.ring8.optimizers.sgda.grid': not used while gan.tune.activate is false"),
    (lambda g: g["tune"].update(activate=False) or g["datasets"]["ring8"]["optimizers"].update(sgda={"lr_g": 0.1}),
     "'gan.datasets.ring8.optimizers.sgda': 'lr_d' is required while gan.tune.activate is false"),
])
def test_gan_cross_key_rules_reject_bad_configs(edit, message):
    config = copy.deepcopy(load_config(ROOT / "config.yaml"))
    edit(config["gan"])
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_the_removed_vectorize_switch_is_an_unknown_key():
    """Every run batches its seeds (one training path): a config still naming gan.vectorize gets one line."""
    config = copy.deepcopy(load_config(ROOT / "config.yaml"))
    config["gan"]["vectorize"] = "auto"
    with pytest.raises(ConfigError, match=r"config key 'gan': unknown key\(s\) 'vectorize'"):
        validate_config(config)


# --- the loop and its outputs --------------------------------------------------------------------

def test_outputs_norms_and_generator_loading(data_dirs, tmp_path):
    out = tmp_path / "run" / "seed0"
    assert train_one(as_job(job_dict(data_dirs)), out.parent) == "ok"
    for name in OUTPUTS:
        assert (out / name).exists(), name
    assert json.loads((out / "status.json").read_text()) == {"status": "ok", "step": 30, "reason": None}
    metrics = read_rows(out / "metrics.csv", drop=())
    assert [int(r["step"]) for r in metrics] == [5, 10, 15, 20, 25, 30]
    assert all(float(r["time/sec_per_step"]) > 0 for r in metrics)
    norms = read_rows(out / "norms.csv")
    G = load_generator(out / "checkpoint.pt")
    n_params = {"G": len(list(G.parameters())), "D": 4}  # the tiny D: two Linear layers
    for step in (10, 20, 30):
        rows = [r for r in norms if int(r["step"]) == step]
        assert {p: sum(r["player"] == p for r in rows) for p in "GD"} == n_params
        assert all(float(r["update_norm"]) > 0 and float(r["direction_norm"]) > 0 for r in rows)
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["step10.pt", "step20.pt", "step30.pt"]
    final = sample(G, 50, seed=3)
    assert final.shape == (50, 2) and torch.equal(final, sample(G, 50, seed=3))
    assert torch.equal(final, sample(load_generator(out / "snapshots" / "step30.pt"), 50, seed=3))
    run = json.loads((out / "run.json").read_text())
    assert run["job"]["optimizer"] == "adam" and run["resolved"] == {"lr_g": 1e-3, "lr_d": 1e-3,
                                                                    "scheme": "simultaneous", "grid_edge": None}
    assert "torch" in run["provenance"]["versions"]


def test_same_seed_same_numbers_other_seed_other_numbers(data_dirs, tmp_path):
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train_one(as_job(job_dict(data_dirs, "digits", "nsgda_layer", seed=seed, steps=10,
                                  net={"arch": "dcgan", "z_dim": 4, "width": 2}, scheme="alternating")),
                  tmp_path / name)
        run = tmp_path / name / f"seed{seed}"
        runs[name] = read_rows(run / "metrics.csv") + read_rows(run / "norms.csv")
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


@pytest.mark.parametrize("optimizer,loss", [("extra_adam", "wgan_gp"), ("negative_momentum", "minimax"),
                                            ("ogda", "nonsaturating")])
def test_registry_schemes_and_losses_run(data_dirs, tmp_path, optimizer, loss):
    job = job_dict(data_dirs, optimizer=optimizer, steps=4, loss=loss, n_dis=2)
    job["hparams"] = {}
    assert train_one(as_job(job), tmp_path) == "ok"
    scheme = json.loads((tmp_path / "seed0" / "run.json").read_text())["resolved"]["scheme"]
    assert scheme == (OPTIMIZERS[optimizer].scheme or "simultaneous")


def test_divergence_is_recorded_and_outputs_written(data_dirs, tmp_path, tracking, synced_run):
    job = job_dict(data_dirs, optimizer="sgda", max_loss=1e-3)  # any loss exceeds it: diverges at step 1
    job["tracking"] = tracking("diverge")
    out = tmp_path / "seed0"
    assert train_one(as_job(job), tmp_path) == "diverged"
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "diverged" and status["step"] == 1 and "max_loss" in status["reason"]
    for name in OUTPUTS:
        assert (out / name).exists(), name
    run_key = json.loads((out / "run.json").read_text())["run_key"]
    assert synced_run(job["tracking"], run_key).info.status == "FAILED"


def test_nan_losses_diverge(data_dirs, tmp_path):
    job = job_dict(data_dirs, optimizer="sgda")
    job["lr_g"] = job["lr_d"] = 1e30
    assert train_one(as_job(job), tmp_path) == "diverged"
    assert json.loads((tmp_path / "seed0" / "status.json").read_text())["step"] < 30


def test_corrupt_resume_checkpoint_starts_fresh(data_dirs, tmp_path, capsys):
    job = job_dict(data_dirs)
    train_one(as_job(job), tmp_path / "ref")
    resume = tmp_path / "state" / "resume.pt"
    resume.parent.mkdir()
    resume.write_bytes(b"not a checkpoint")
    job["resume"] = str(resume)
    assert train_one(as_job(job), tmp_path / "run") == "ok"
    assert "unreadable" in capsys.readouterr().out
    assert read_rows(tmp_path / "run" / "seed0" / "metrics.csv") == read_rows(tmp_path / "ref" / "seed0" / "metrics.csv")
    assert not resume.exists()  # removed after success


def test_training_reads_tuned_step_sizes_and_logs_them(data_dirs, tmp_path, synced_run):
    job = job_dict(data_dirs, steps=2) | {"lr_g": None, "lr_d": None}  # as the workflow sends it while tuning
    job["tune_best"] = str(tmp_path / "best.json")
    with pytest.raises(GanoptError, match="tune_lr"):
        train_one(as_job(job), tmp_path / "run")
    io.write_json(tmp_path / "best.json", {"lr_g": 2e-4, "lr_d": 5e-4, "score": 1.0, "metric": "m", "grid": [],
                                           "grid_edge": "lowest lr_d"})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    job["tracking"] = {"enabled": True, "uri": uri, "artifact_location": str(tmp_path / "art"), "experiment": "e",
                       "journal": str(tmp_path / "journal")}
    train_one(as_job(job), tmp_path / "run")
    run = json.loads((tmp_path / "run" / "seed0" / "run.json").read_text())
    assert (run["resolved"]["lr_g"], run["resolved"]["lr_d"], run["resolved"]["grid_edge"]) == (2e-4, 5e-4,
                                                                                                 "lowest lr_d")
    params = synced_run(job["tracking"], run["run_key"]).data.params
    assert (params["lr_g"], params["lr_d"], params["resolved.lr_g"]) == ("0.0002", "0.0005", "0.0002")


# --- kill and resume, through the CLI ----------------------------------------------------------

def _cli(job: dict, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-m", "ganopt.cli", "train-gan", "--config", json.dumps(job),
                             "--out", str(out)], env=env, cwd=out.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_kill_and_resume_gives_identical_numbers_and_one_mlflow_run(data_dirs, tmp_path, tracking, synced_run):
    job = job_dict(data_dirs, steps=600, checkpoint_every=20, snapshot_every=200, norms_every=20)
    train_one(as_job(job), tmp_path / "ref")  # uninterrupted, in this (single-threaded) process

    cli_job = {k: v for k, v in job.items() if k != "seed"} | {"seeds": [0], "tracking": tracking("resume"),
                                                              "resume": str(tmp_path / "state")}
    resume = tmp_path / "state" / "seed0" / "resume.pt"
    run_dir, ref_dir = tmp_path / "run" / "seed0", tmp_path / "ref" / "seed0"
    first = _cli(cli_job, tmp_path / "run")
    deadline = time.time() + 240
    while not resume.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (run_dir / "status.json").exists(), "the run ended before it could be killed"
    run_key = torch.load(resume, weights_only=True)["run_id"]

    second = _cli(cli_job, tmp_path / "run")
    log = second.communicate(timeout=300)[0]
    assert second.returncode == 0, log
    assert "resuming from" in log
    for name in ("metrics.csv", "norms.csv"):
        assert read_rows(run_dir / name) == read_rows(ref_dir / name), name
    ref_ckpt = torch.load(ref_dir / "checkpoint.pt", weights_only=True)
    run_ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    for player in ("G", "D"):
        for key, value in ref_ckpt[player].items():
            assert torch.equal(value, run_ckpt[player][key]), f"{player}.{key}"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["run_key"] == run_key and run["resumed_from_step"] > 0
    assert not resume.exists()
    from mlflow.tracking import MlflowClient

    run_id = synced_run(cli_job["tracking"], run_key).info.run_id
    client = MlflowClient(tracking_uri=cli_job["tracking"]["uri"])
    runs = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert [(r.info.run_id, r.info.status) for r in runs] == [(run_id, "FINISHED")]
    assert runs[0].info.run_name == "train_gan/ring8/adam/seed0"
    keys = client.get_run(run_id).data.metrics
    for key in keys:  # every logged step once
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert steps == sorted(set(steps)) and steps[-1] == 600, key
    per_tensor = [k for k in keys if k.count("/") == 3]  # tensor/<norm>/<player>/<tensor>: charts after the rest
    assert per_tensor and max(k for k in keys if k.startswith(("loss/", "proxy/"))) < min(per_tensor)
    assert {"metrics.csv", "norms.csv"} <= {a.path for a in client.list_artifacts(run_id)}


def test_a_run_json_replays_its_seed(data_dirs, tmp_path):
    """`ganopt train-gan --config <run.json>` trains that seed again into <out>/seed<k>, to the same numbers."""
    from ganopt.cli import main

    train_one(as_job(job_dict(data_dirs, seed=3, steps=6)), tmp_path / "first")
    assert main(["train-gan", "--config", str(tmp_path / "first" / "seed3" / "run.json"),
                 "--out", str(tmp_path / "again")]) == 0
    for name in ("metrics.csv", "norms.csv"):
        assert read_rows(tmp_path / "again" / "seed3" / name) == read_rows(tmp_path / "first" / "seed3" / name)


# --- tuning and its scores ---------------------------------------------------------------------

def test_tune_lr_picks_the_best_grid_point(data_dirs, tmp_path):
    base = job_dict(data_dirs, optimizer="sgda", steps=20)
    job = TuneJob(dataset="ring8", optimizer="sgda", data_dir=base["data_dir"], grid=[0.01, [1e30, 1e30]],
                  seeds=[7, 8], train=TrainConfig(**{**base["train"], "net": NetConfig(**TINY_MLP)}),
                  eval_samples=200)
    best = tune_lr(job, tmp_path)
    assert json.loads((tmp_path / "best.json").read_text()) == best
    assert [(p["lr_g"], p["lr_d"]) for p in best["grid"]] == [(0.01, 0.01), (1e30, 1e30)]
    assert best["grid"][1]["score"] is None and "diverged" in best["grid"][1]["status"]
    assert (best["lr_g"], best["lr_d"]) == (0.01, 0.01) and best["score"] == best["grid"][0]["score"]
    assert best["metric"] == "-energy_data" and best["seeds"] == [7, 8]
    assert best["grid_edge"] == "lowest"  # 0.01 is the smaller of the two step sizes


def test_grid_edge_says_where_the_chosen_step_sits():
    scalar = [(0.1, 0.1), (0.2, 0.2), (0.4, 0.4)]
    assert [grid_edge(scalar, i) for i in range(3)] == ["lowest", None, "highest"]
    assert grid_edge([(0.1, 0.1)], 0) is None  # one step size: no edge to speak of
    pairs = [(0.1, 0.1), (0.1, 0.3), (0.2, 0.2)]
    assert grid_edge(pairs, 0) == "lowest lr_g, lowest lr_d"
    assert grid_edge(pairs, 1) == "lowest lr_g, highest lr_d"
    assert grid_edge([(0.1, 0.2), (0.3, 0.2)], 1) == "highest lr_g"  # lr_d never varies


def test_config_points_read_a_grid_or_one_pair():
    assert config_points({"grid": [0.1, [0.2, 0.3]]}) == [(0.1, 0.1), (0.2, 0.3)]
    assert config_points({"grid": None, "lr_g": 1e-3, "lr_d": 2e-3}) == [(1e-3, 2e-3)]


def test_tune_grid_rejects_bad_entries(data_dirs, tmp_path):
    job = TuneJob(dataset="ring8", optimizer="adam", data_dir=data_dirs["ring8"], grid=[[0.1]], seeds=[5])
    with pytest.raises(ConfigError, match="lr_g, lr_d"):
        tune_lr(job, tmp_path)


def test_tuning_score_on_a_mixture(data_dirs):
    """Tuning ranks mixture samples by the energy distance to held-out points, with the mode rule's details."""
    data = load_prepared(data_dirs["ring8"])
    centers = torch.tensor(data.meta["centers"])
    score, real = score_samples(data.train[:1000], data)
    assert real["modes_covered"] == 8 and real["high_quality_frac"] > 0.97 and score == -real["energy_data"]
    collapsed_score, collapsed = score_samples(centers[:1].repeat(1000, 1), data)
    assert collapsed["modes_covered"] == 1 and collapsed["high_quality_frac"] == 1.0 and collapsed_score < score


def test_frechet_distance_on_pixels(data_dirs):
    data = load_prepared(data_dirs["digits"])
    train, test = gaussian_stats(pixel_features(data.train)), gaussian_stats(pixel_features(data.test))
    assert abs(frechet(test, test)) < 1e-6
    gen = torch.Generator().manual_seed(0)
    noisy = [frechet(gaussian_stats(pixel_features(data.train + s * torch.randn(data.train.shape, generator=gen))),
                     test) for s in (0.0, 0.3, 1.0)]
    assert noisy[0] == pytest.approx(frechet(train, test))
    assert noisy[0] < noisy[1] < noisy[2]
