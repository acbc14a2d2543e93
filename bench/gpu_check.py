"""GPU check of the paper configuration (CIFAR-10 ResNet WGAN-GP), side by side in one run:

- generator it/s of one run (a session of S = 1) plain, with `train.compile`, with `train.autocast:
  bf16`, and with both (compilation time reported apart);
- aggregate it/s of S = --seeds runs batched in one session against S = 1 (the study's one training
  job per optimizer trains its 5 seeds so);
- optionally (--job-steps) a real `train_gan` job's it/s, bookkeeping and outputs included;
- one FID of --fid-samples generated and as many real images with the on-device resize;
- the paper study's GPU-hours at the measured speeds.

    python bench/gpu_check.py                       # CUDA GPU: the defaults
    python bench/gpu_check.py --quick               # about 5 minutes on an H200: fewer steps, no job
    python bench/gpu_check.py --device cpu --quick --width 2 --seeds 2 --fid-samples 10 --inception random \
        --compiler aot_eager                        # the code path on a CPU (tests/test_paper_config.py)

Uses the prepared CIFAR-10 (results/data/cifar10) when present, else random images written in
CIFAR-10's file format and prepared through ganopt's loader (speed does not depend on the pixels;
the FID is then not a quality number, and says so). `--inception random` times a randomly
initialized Inception-v3 of the same architecture where no weights file can be had (the FID value
is then meaningless, the time is not). `--compiler` other than inductor (e.g. aot_eager) checks the
compiled path's graph capture without building kernels, which on a CPU takes minutes."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import math
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ganopt.config import from_dict, validate_config  # noqa: E402
from ganopt.data import CIFAR10_FILES, Prepared, load_prepared, prepare_dataset  # noqa: E402
from ganopt.errors import GanoptError  # noqa: E402
from ganopt.gan.checkpoint import sample  # noqa: E402
from ganopt.gan.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs  # noqa: E402
from ganopt.gan.train import TrainJob, train_gan  # noqa: E402
from ganopt.gan.tune import config_points  # noqa: E402
from ganopt.metrics.features import FeatureSource, InceptionFeatures, find_inception, load_inception  # noqa: E402
from ganopt.metrics.fid import extract, frechet, gaussian_stats  # noqa: E402
from ganopt.optim import OPTIMIZERS  # noqa: E402
from ganopt.runtime import select_device  # noqa: E402

DATASET = "cifar10"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    parser.add_argument("--optimizer", default="adam", help="a registry name of the config's optimizers")
    parser.add_argument("--quick", action="store_true", help="short arms and no train_gan job (~5 min on an H200)")
    parser.add_argument("--steps", type=int, help="generator steps timed per arm, after --warmup (default 200; quick 20)")
    parser.add_argument("--warmup", type=int, help="untimed generator steps first, compilation included (default 10; "
                                                   "quick 3)")
    parser.add_argument("--seeds", type=int, default=5, help="runs batched in the S > 1 arm (the paper's 5 seeds)")
    parser.add_argument("--job-steps", type=int, help="steps of the train_gan job (0: skip it; default 1000, quick 0)")
    parser.add_argument("--fid-samples", type=int, default=50000, help="generated and real images scored")
    parser.add_argument("--device", default="auto", help="auto (CUDA required), cuda[:n], or cpu")
    parser.add_argument("--width", type=int, help="channels of G and D (default: the config's); small values "
                                                  "only to check the code path on a CPU")
    parser.add_argument("--compiler", default="inductor", help="torch.compile backend of the compiled arms")
    parser.add_argument("--data", type=Path, default=REPO / "results" / "data" / DATASET)
    parser.add_argument("--inception", help="Inception-v3 TorchScript file (default: the config's fid.inception.path "
                                            "and its fallbacks), or 'random': random weights, for timing only")
    args = parser.parse_args(argv)
    quick = {"steps": 20, "warmup": 3, "job_steps": 0} if args.quick else {"steps": 200, "warmup": 10, "job_steps": 1000}
    for key, value in quick.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def paper_run(config_path: Path, optimizer: str, steps: int, width: int | None) -> tuple[RunSpec, dict]:
    """The paper config's run of `optimizer` on CIFAR-10 (its step sizes, or its grid's middle point), set
    to `steps` steps (its step-size decay then spans those)."""
    config = validate_config(yaml.safe_load(config_path.read_text()))
    gan = config["gan"]
    section = gan["datasets"][DATASET]
    if optimizer not in section["optimizers"]:
        raise GanoptError(f"optimizer '{optimizer}' is not in {config_path}'s gan.datasets.{DATASET}.optimizers")
    net = {**section["train"]["net"], **({"width": width} if width else {})}
    train = from_dict(TrainConfig, {**section["train"], "steps": steps, "net": net},
                      where=f"gan.datasets.{DATASET}.train")
    steps_cfg = section["optimizers"][optimizer]
    grid = config_points(steps_cfg)
    lr_g, lr_d = grid[len(grid) // 2]  # the grid's middle point (speed does not depend on it)
    spec = RunSpec(optimizer, lr_g, lr_d, seed=0, train=train,
                   hparams=optimizer_kwargs(gan["hparams"].get(optimizer, {})))
    return spec, config


def cifar_data(path: Path, n: int, scratch: Path) -> tuple[Path, bool]:
    """The prepared CIFAR-10 folder, or random images written in CIFAR-10's batch files and prepared
    by ganopt's loader into `scratch` (False: not real data)."""
    if (path / "manifest.json").exists():
        return path, True
    raw = scratch / "raw" / "cifar-10-batches-py"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per_batch = max(n // 5, 200)
    for name in CIFAR10_FILES[:-1]:
        rows = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        with open(raw / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": list(rng.integers(0, 10, per_batch)), "batch_label": name}, handle)
    with open(raw / CIFAR10_FILES[-1], "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)
    prepare_dataset(DATASET, {"root": str(raw.parent), "download": False, "verify_checksums": False},
                    scratch / "prepared")
    return scratch / "prepared", False


def random_inception(device: torch.device) -> FeatureSource:
    """A randomly initialized torchvision Inception-v3 trunk (2048 pool features): the FID network's
    architecture and cost, for timing where no weights file is at hand."""
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False)
    net.fc = torch.nn.Identity()
    return FeatureSource("inception", InceptionFeatures(net.eval()).to(device), "random", "random weights", "clean")


def job_speed(spec: RunSpec, data_dir: Path, steps: int, device: torch.device, out: Path) -> tuple[float, float, str]:
    """A real train_gan job of `spec` for `steps` steps (run journal on, outputs written): its wall
    time, median seconds per step from its metrics.csv, and its status."""
    train = dataclasses.replace(spec.train, steps=steps)
    tracking = {"enabled": True, "uri": f"sqlite:///{out}/mlflow.db", "artifact_location": str(out / "mlartifacts"),
                "experiment": "gpu-check", "journal": str(out / "tracking"), "sync": "study"}
    job = TrainJob(DATASET, spec.optimizer, 0, str(data_dir), train, spec.lr_g, spec.lr_d,
                   hparams=spec.hparams, tracking=tracking, device=str(device))
    start = time.perf_counter()
    (status,) = train_gan([job], out / "run")
    wall = time.perf_counter() - start
    with open(out / "run" / "seed0" / "metrics.csv", newline="") as handle:
        per_step = [float(row["time/sec_per_step"]) for row in csv.DictReader(handle)][1:]  # first row: warm-up
    return wall, statistics.median(per_step) if per_step else wall / steps, status


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gib(device: torch.device) -> str:
    """Peak GPU memory since the last reset_peak ("n/a" on the CPU)."""
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else "n/a"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


@dataclasses.dataclass
class Arm:
    """One timed configuration of the session: its runs, options, speed and memory."""

    name: str
    seeds: int
    compile: bool = False
    autocast: str = "none"
    first_s: float = math.nan       # warm-up steps' wall time (compilation included)
    rate: float = math.nan          # generator steps per second of the session (each of its runs advances once)
    peak: str = "n/a"
    note: str = ""

    @property
    def aggregate(self) -> float:
        return self.rate * self.seeds


def time_arm(arm: Arm, spec: RunSpec, data: Prepared, device: torch.device, warmup: int, steps: int
             ) -> GanSession:
    """Build the arm's session (seeds 0..S-1 at the spec's step sizes), run `warmup` steps, time `steps`."""
    train = dataclasses.replace(spec.train, compile=arm.compile, autocast=arm.autocast)
    specs = [dataclasses.replace(spec, seed=seed, train=train) for seed in range(arm.seeds)]
    if arm.compile:
        import torch._dynamo

        torch._dynamo.reset()  # each compiled arm pays its own compilation
    reset_peak(device)
    session = GanSession(specs, data, device)
    start = time.perf_counter()
    session.run(warmup)
    sync(device)
    arm.first_s = time.perf_counter() - start
    start = time.perf_counter()
    reasons = session.run(warmup + steps)
    sync(device)
    done = session.step - warmup
    arm.rate = done / (time.perf_counter() - start) if done > 0 else math.nan
    arm.peak = peak_gib(device)
    if any(reasons):
        arm.note = f"a run diverged at step {session.step}; timed the steps done"
    return session


def gpu_hours(config: dict, arms: dict[str, Arm], fid_s: float, full_steps: int) -> str:
    """The paper study's GPU time at these speeds: per optimizer one tuning job (its grid x tuning
    seeds) and one training job (its seeds), each run `full_steps` long; a job of up to S runs (S of
    the batched arm) at the batched arm's speed (fewer runs step no slower), more in chunks of S;
    extragradient optimizers do twice the gradient work. Against that, every run alone at the plain
    arm's speed. FID: one per snapshot (and the end) of every reported run."""
    gan = config["gan"]
    section = gan["datasets"][DATASET]
    batched, plain = arms["batched"], arms["plain"]
    jobs_h = alone_h = 0.0
    for optimizer in gan["optimizers"]:
        work = 2 if OPTIMIZERS[optimizer].scheme == "extragradient" else 1
        tuning = len(config_points(section["optimizers"][optimizer])) * len(gan["tune"]["seeds"])
        for runs in (tuning, len(gan["seeds"])):
            jobs_h += math.ceil(runs / batched.seeds) * work * full_steps / batched.rate / 3600
            alone_h += runs * work * full_steps / plain.rate / 3600
    evaluations = -(-full_steps // section["train"]["snapshot_every"])
    fid_h = len(gan["optimizers"]) * len(gan["seeds"]) * evaluations * fid_s / 3600
    return (f"paper study at these speeds: {jobs_h:.0f} GPU-hours of tuning and training ({2 * len(gan['optimizers'])} "
            f"jobs, runs batched up to S = {batched.seeds}; every run alone: {alone_h:.0f}), plus {fid_h:.1f} "
            f"GPU-hours of FID ({evaluations} per reported run)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "auto" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU visible (torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
              "nothing measured. Run it on a GPU machine, or check the code path with --device cpu --quick "
              "--width 2 --seeds 2 --fid-samples 10 --inception random --compiler aot_eager.", file=sys.stderr)
        return 1
    if args.compiler != "inductor":
        torch.compile = functools.partial(torch.compile, backend=args.compiler)  # the sessions' compile calls
    with tempfile.TemporaryDirectory() as tmp:
        try:
            device = select_device(args.device)
            spec, config = paper_run(args.config, args.optimizer, args.warmup + args.steps, args.width)
            data_dir, real = cifar_data(args.data, args.fid_samples, Path(tmp))
            data = load_prepared(data_dir)
            if args.inception == "random":
                inception = random_inception(device)
            else:
                inception_cfg = config["fid"]["inception"]
                path = find_inception(args.inception or inception_cfg["path"], inception_cfg["sha1"])
                inception = load_inception(path, device, inception_cfg["sha1"])
        except GanoptError as exc:
            print(f"gpu_check: {exc}", file=sys.stderr)
            return 2
        return measure(args, spec, config, device, data, data_dir, real, inception, Path(tmp))


def measure(args: argparse.Namespace, spec: RunSpec, config: dict, device: torch.device, data: Prepared,
            data_dir: Path, real: bool, inception: FeatureSource, tmp: Path) -> int:
    """Every arm, then the job, the FID and the study's GPU-hours, printed as they finish."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    train = spec.train
    print(f"device {name}; torch {torch.__version__}; {args.optimizer}; batch {train.batch_size}, "
          f"n_dis {train.n_dis}, {train.loss}, {train.net.arch} width {train.net.width}; {args.warmup} warm-up + "
          f"{args.steps} timed generator steps per arm; compiler {args.compiler}; "
          f"data: {'prepared CIFAR-10' if real else 'random images in CIFAR-10 files, prepared by ganopt'}; "
          f"inception: {inception.path}", flush=True)
    arms = {arm.name: arm for arm in (Arm("plain", 1), Arm("compiled", 1, compile=True), Arm("bf16", 1, autocast="bf16"),
                                      Arm("compiled+bf16", 1, compile=True, autocast="bf16"),
                                      Arm("batched", args.seeds))}
    print(f"{'arm':<16}{'S':>3}{'it/s per run':>14}{'aggregate it/s':>16}{'x plain':>9}{'warm-up s':>11}"
          f"{'peak GPU':>10}", flush=True)
    session = None
    for arm in arms.values():
        current = time_arm(arm, spec, data, device, args.warmup, args.steps)
        session = current if arm.name == "plain" else session
        print(f"{arm.name:<16}{arm.seeds:>3}{arm.rate:>14.2f}{arm.aggregate:>16.2f}"
              f"{arm.aggregate / arms['plain'].aggregate:>8.2f}x{arm.first_s:>11.1f}{arm.peak:>10}"
              + (f"  ({arm.note})" if arm.note else ""), flush=True)
    print("it/s: generator steps per second (each has n_dis critic steps); aggregate: runs x it/s; warm-up: the "
          f"first {args.warmup} steps' wall time, compilation included", flush=True)

    if args.job_steps:
        reset_peak(device)
        wall, per_step, status = job_speed(spec, data_dir, args.job_steps, device, tmp / "job")
        print(f"job:     train_gan, first {args.job_steps} steps of the paper run: {wall:.1f} s in all (start, "
              f"bookkeeping and outputs included), {1 / per_step:.2f} it/s in its loop (median of metrics.csv); "
              f"status {status}; peak GPU memory {peak_gib(device)}", flush=True)

    reset_peak(device)
    start = time.perf_counter()
    fake = sample(session.seed(0).G.eval(), args.fid_samples, seed=0, batch_size=500)
    batch = config["fid"]["batch_size"]
    feats_fake = extract(inception, fake, batch_size=batch, device=device)
    feats_real = extract(inception, data.train[: args.fid_samples], batch_size=batch, device=device)
    sync(device)
    fid_s = time.perf_counter() - start
    fid = frechet(gaussian_stats(feats_fake), gaussian_stats(feats_real))
    n_img = len(feats_fake) + len(feats_real)
    meaning = "" if real and inception.sha1 != "random" else " (random data or weights: not a quality number)"
    print(f"fid:     {len(feats_fake)} generated + {len(feats_real)} real images (sampling, clean resize to 299 on "
          f"{device.type}, Inception) in {fid_s:.1f} s = {n_img / fid_s:.0f} img/s; peak GPU memory {peak_gib(device)}; "
          f"FID {fid:.2f} after {session.step} steps{meaning}")
    full = config["gan"]["datasets"][DATASET]["train"]["steps"]
    print(f"one {full}-step paper run: {full / arms['plain'].rate / 3600:.1f} h alone (S = 1 plain), "
          f"{full / arms['batched'].rate / 3600:.1f} h for {args.seeds} runs batched")
    print(gpu_hours(config, arms, fid_s * 50000 / max(len(feats_fake), 1), full))
    return 0


if __name__ == "__main__":
    sys.exit(main())
