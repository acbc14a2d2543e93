"""The one training session (ganopt.gan.session): S seeds batched as one model give each seed the
numbers of its one-seed run (S = 1), for every registry optimizer and every architecture (MLP at the
job level, with every output file; DCGAN and ResNet at the session level); reruns and a kill +
resume give identical numbers; tuning batches its grid x seeds."""

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

from ganopt.data import Prepared, load_prepared
from ganopt.errors import ConfigError
from ganopt.gan.checkpoint import sample
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import build_pair
from ganopt.gan.scores import score_samples
from ganopt.gan.session import GanSession, RunSpec, TrainConfig, lr_factor
from ganopt.gan.train import seed_jobs, train_gan, train_gan_job
from ganopt.gan.tune import EVAL_SEED, TuneJob, tune_lr
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
        for player in ("G", "D"):
            for key, value in ckpts[1][player].items():
                if exact:
                    assert torch.equal(ckpts[0][player][key], value), key
                else:
                    torch.testing.assert_close(ckpts[0][player][key], value, rtol=1e-4, atol=1e-6)
        assert json.loads((a / f"seed{seed}" / "status.json").read_text()) == \
            json.loads((b / f"seed{seed}" / "status.json").read_text())


def one_at_a_time(job: dict, out: Path) -> None:
    """Each seed of the job as its own batch of one."""
    for seed in job["seeds"]:
        train_gan(seed_jobs({**job, "seeds": [seed]}), out)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_seeds_batched_equal_one_seed_runs(data_dirs, tmp_path, optimizer):
    job = seeds_job(data_dirs, optimizer=optimizer)
    train_gan(seed_jobs(job), tmp_path / "batched")
    one_at_a_time(job, tmp_path / "one")
    assert_same_runs(tmp_path / "batched", tmp_path / "one", exact=False)


@pytest.mark.parametrize("settings", [
    {"loss": "wgan_gp", "scheme": "alternating", "n_dis": 2},
    {"lr_decay": "linear", "loss": "minimax"},
])
def test_batched_images_penalty_and_decay(data_dirs, tmp_path, settings):
    job = seeds_job(data_dirs, dataset="digits", optimizer="adalr", **settings)
    train_gan(seed_jobs(job), tmp_path / "batched")
    one_at_a_time(job, tmp_path / "one")
    assert_same_runs(tmp_path / "batched", tmp_path / "one", exact=False)


# --- convolutional nets, session level --------------------------------------------------------------

def images(shape: tuple[int, ...]) -> Prepared:
    pixels = torch.rand(48, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return Prepared("noise", "images", pixels, pixels[:8], {})


CONV = [("dcgan", (1, 8, 8), "nonsaturating", "simultaneous"), ("dcgan", (1, 16, 16), "minimax", "alternating"),
        ("resnet", (3, 32, 32), "wgan_gp", "alternating")]


def outputs(session: GanSession, k: int, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed k's G(z) and D(x) in training mode (batch statistics), as its one-seed nets compute them."""
    state = session.seed_state(k)
    G, D = build_pair(session.cfg.net, session.shape)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    with torch.no_grad():
        return G(z), D(x)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("arch,shape,loss,scheme", CONV, ids=[f"{c[0]}-{c[1][-1]}px-{c[2]}" for c in CONV])
def test_batched_conv_nets_equal_one_seed_runs(arch, shape, loss, scheme, optimizer):
    """S = 3 seeds (their own step sizes) against three S = 1 runs: every step's losses and gradient
    norms, and the nets' outputs at the end. Parameters are compared one by one for sgda; for the
    optimizers that rescale per tensor (Adam's, normalized, grafted), a bias feeding a batch norm
    has a gradient of exactly 0 in exact arithmetic, so its float rounding noise, different in a
    grouped convolution, is rescaled to a full step: such a bias (and the running mean behind it)
    then differs between any two implementations, without changing what the nets compute in
    training mode."""
    data = images(shape)
    train = TrainConfig(steps=3, batch_size=4, loss=loss, scheme=scheme, n_dis=2, lr_decay="linear",
                        net=NetConfig(arch=arch, z_dim=3, width=2))
    specs = [RunSpec(optimizer, 1e-2 * (k + 1), 2e-2, seed, train) for k, seed in enumerate((0, 5, 7))]
    batched = GanSession(specs, data, torch.device("cpu"))
    steps = [batched.train_step() for _ in range(train.steps)]
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    for k, spec in enumerate(specs):
        alone = GanSession([spec], data, torch.device("cpu"))
        for step, out in enumerate(alone.train_step()[0] for _ in range(train.steps)):
            assert steps[step][k] == pytest.approx(out, rel=1e-4, abs=1e-6), f"seed {spec.seed} step {step + 1}"
        for a, b in zip(outputs(batched, k, z, data.test), outputs(alone, 0, z, data.test)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        if optimizer == "sgda":
            mine, ref = batched.seed_state(k), alone.seed_state(0)
            for player in ("G", "D"):
                assert mine[player].keys() == ref[player].keys()
                for name, value in ref[player].items():
                    torch.testing.assert_close(mine[player][name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_batch_norm_statistics_stay_per_seed():
    """Each seed's running statistics are those of its own batches: a batched G's (S, C) buffers
    equal the one-seed nets' after the same forward passes."""
    cfg = NetConfig(arch="dcgan", z_dim=3, width=2)
    from ganopt.gan.batched import stack_pair

    torch.manual_seed(0)
    pairs = [build_pair(cfg, (1, 8, 8)) for _ in range(3)]
    G, _ = stack_pair([g for g, _ in pairs], [d for _, d in pairs])
    z = torch.randn(3, 5, 3)
    z[1] *= 10  # seed 1's batches differ in scale: pooled statistics would show
    G(z)
    for k, (one, _) in enumerate(pairs):
        one(z[k])
        for name, value in one.state_dict().items():
            torch.testing.assert_close(G.state_dict()[name][k], value, rtol=1e-5, atol=1e-6, msg=name)


def test_every_layer_of_the_nets_batches_and_an_unknown_one_is_an_error():
    from ganopt.gan.batched import stack_pair

    G, D = build_pair(NetConfig(arch="mlp", z_dim=2, width=4, depth=1), (2,))
    G.body.append(torch.nn.Dropout())
    with pytest.raises(ConfigError, match="Dropout cannot be batched"):
        stack_pair([G, G], [D, D])


# --- the session: step sizes, divergence, reruns, resume --------------------------------------------

def test_one_step_size_schedule():
    assert [lr_factor("linear", s, 4) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_factor("none", 3, 4) == 1.0
    with pytest.raises(ConfigError, match="lr_decay"):
        lr_factor("cosine", 0, 4)


def test_grid_points_and_a_diverging_run_in_one_batch(data_dirs):
    """Runs with their own step sizes (a tuning grid); the one that diverges stops alone."""
    data = load_prepared(data_dirs["ring8"])
    train = TrainConfig(steps=15, batch_size=16, net=NetConfig(**TINY_MLP))
    specs = [RunSpec("adadir", lr, lr, seed, train) for lr, seed in ((1e-2, 5), (1e30, 5), (3e-2, 6))]
    batched = GanSession(specs, data, torch.device("cpu"))
    reasons = batched.run(train.steps)
    assert reasons[0] is None and reasons[2] is None and reasons[1] is not None
    assert batched.active == [True, False, True]
    for k in (0, 2):
        one = GanSession([specs[k]], data, torch.device("cpu"))
        assert one.run(train.steps) == [None]
        for key, value in one.seed(0).G.state_dict().items():
            torch.testing.assert_close(batched.seed(k).G.state_dict()[key], value, rtol=1e-4, atol=1e-6)


def test_runs_of_a_session_share_their_settings(data_dirs):
    data = load_prepared(data_dirs["ring8"])
    train = TrainConfig(steps=2, batch_size=4, net=NetConfig(**TINY_MLP))
    with pytest.raises(ConfigError, match="share optimizer"):
        GanSession([RunSpec("adam", 1e-3, 1e-3, 0, train), RunSpec("sgda", 1e-3, 1e-3, 1, train)], data,
                   torch.device("cpu"))


def test_reruns_are_identical(data_dirs, tmp_path):
    jobs = seed_jobs(seeds_job(data_dirs, optimizer="nsgda_global"))
    train_gan(jobs, tmp_path / "a")
    train_gan(jobs, tmp_path / "b")
    assert_same_runs(tmp_path / "a", tmp_path / "b", exact=True)


def test_seeds_job_errors(data_dirs, tmp_path):
    for seeds in ([], [1, 1], None):
        with pytest.raises(ConfigError, match="seeds"):
            seed_jobs({**seeds_job(data_dirs), "seeds": seeds})
    with pytest.raises(ConfigError, match="unknown key.*'vectorize'"):  # the removed switch: one clear line
        train_gan_job({**seeds_job(data_dirs), "vectorize": "auto"}, tmp_path)


def test_kill_and_resume_gives_identical_numbers(data_dirs, tmp_path):
    job = seeds_job(data_dirs, steps=600, checkpoint_every=20, snapshot_every=200, norms_every=20, metrics_every=5)
    train_gan(seed_jobs(job), tmp_path / "ref")
    job["resume"] = str(tmp_path / "state")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))

    def cli() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ganopt.cli", "train-gan", "--config", json.dumps(job),
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


def test_tuning_batches_its_grid_and_seeds_as_one_seed_runs_score(data_dirs, tmp_path):
    """tune_lr's scores (grid x seeds in one session) equal those of each run trained alone."""
    data = load_prepared(data_dirs["ring8"])
    train = TrainConfig(steps=15, batch_size=16, net=NetConfig(**TINY_MLP))
    result = tune_lr(TuneJob(dataset="ring8", optimizer="nsgda_layer", data_dir=data_dirs["ring8"],
                             grid=[0.01, [0.03, 0.01], 1e30], seeds=[7, 8], train=train, eval_samples=200),
                     tmp_path)
    assert result["grid"][2]["status"] == ["diverged", "diverged"] and result["grid"][2]["score"] is None
    for row in result["grid"][:2]:
        for seed, score in zip((7, 8), row["scores"]):
            alone = GanSession([RunSpec("nsgda_layer", row["lr_g"], row["lr_d"], seed, train)], data,
                               torch.device("cpu"))
            assert alone.run(train.steps) == [None]
            expected = score_samples(sample(alone.seed(0).G.eval(), 200, EVAL_SEED), data)[0]
            assert score == pytest.approx(expected, rel=1e-3, abs=1e-4)


def test_cli_writes_the_jobs_timing_record(data_dirs, tmp_path):
    from ganopt.cli import main

    job = seeds_job(data_dirs, steps=5)
    assert main(["train-gan", "--config", json.dumps(job), "--out", str(tmp_path / "run"),
                 "--timing", str(tmp_path / "timing.json")]) == 0
    record = json.loads((tmp_path / "timing.json").read_text())
    assert record["command"] == "train-gan"
    assert record["wall_s"] >= record["phases"]["loop"] > 0 and record["max_rss_mb"] > 0
    assert all((tmp_path / "run" / f"seed{seed}" / "status.json").exists() for seed in SEEDS)


# --- GPU options, checked on the CPU ----------------------------------------------------------------

def test_compiled_nets_train_to_the_eager_numbers(monkeypatch):
    """train.compile: the nets' forward passes through torch.compile (batch norm's in-place running
    statistics, eager gradient penalty beside them) give the eager numbers. The compiler is
    aot_eager here: inductor generates and builds C++ kernels, minutes for even a 4-unit net on this
    CPU; the graph capture and autograd that the session relies on are the same."""
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    data = images((1, 8, 8))
    runs = {}
    for compiled in (False, True):
        train = TrainConfig(steps=2, batch_size=4, loss="wgan_gp", n_dis=2, compile=compiled,
                            net=NetConfig(arch="dcgan", z_dim=3, width=2))
        session = GanSession([RunSpec("adam", 1e-3, 1e-3, seed, train) for seed in (0, 1)], data, torch.device("cpu"))
        runs[compiled] = ([session.train_step() for _ in range(train.steps)], session.seed_state(1)["G"])
    for compiled_step, eager_step in zip(runs[True][0], runs[False][0]):
        for mine, ref in zip(compiled_step, eager_step):
            assert mine == pytest.approx(ref, rel=1e-4, abs=1e-6)
    for name, value in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_autocast_is_an_option_and_off_by_default(data_dirs):
    """train.autocast: none (the default) computes in float32; bf16 runs D's forward in bfloat16 and
    lands near the float32 numbers, with float32 parameters."""
    data = load_prepared(data_dirs["digits"])
    assert TrainConfig().autocast == "none" and TrainConfig().compile is False
    runs = {}
    for autocast in ("none", "bf16"):
        train = TrainConfig(steps=3, batch_size=16, autocast=autocast, net=NetConfig(**TINY_MLP))
        session = GanSession([RunSpec("adam", 1e-3, 1e-3, seed, train) for seed in (0, 1)], data, torch.device("cpu"))
        dtypes = set()
        session.D.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
        runs[autocast] = [session.train_step() for _ in range(train.steps)]
        assert dtypes == {torch.float32 if autocast == "none" else torch.bfloat16}
        assert {p.dtype for p in session.G.parameters()} == {torch.float32}
    assert runs["bf16"] != runs["none"]
    for mine, ref in zip(runs["bf16"], runs["none"]):
        for a, b in zip(mine, ref):
            assert a["loss/D"] == pytest.approx(b["loss/D"], rel=0.05)
    with pytest.raises(ConfigError, match="autocast"):
        GanSession([RunSpec("adam", 1e-3, 1e-3, 0, TrainConfig(autocast="fp8", net=NetConfig(**TINY_MLP)))], data,
                   torch.device("cpu"))
