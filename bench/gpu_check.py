"""GPU check of the paper configuration: generator steps of its CIFAR-10 ResNet WGAN-GP (the bare
session, then the first --job-steps of a real `train_gan` job with its bookkeeping and outputs) and
one Inception FID of --fid-samples generated and as many real images, printing it/s, img/s and peak
GPU memory. Run it whenever a GPU is at hand:

    python bench/gpu_check.py                                        # CUDA GPU: the defaults
    python bench/gpu_check.py --device cpu --steps 1 --job-steps 2 --width 8 --fid-samples 10 --inception random

Uses the prepared CIFAR-10 (results/data/cifar10) when present, else random images written in
CIFAR-10's file format and prepared through ganopt's loader (speed does not depend on the pixels;
the FID is then not a quality number, and says so). `--inception random` times a randomly
initialized Inception-v3 of the same architecture where no weights file can be had (the FID value
is then meaningless, the time is not)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
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
from ganopt.runtime import select_device  # noqa: E402

DATASET = "cifar10"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    parser.add_argument("--optimizer", default="adam", help="a registry name of the config's optimizers")
    parser.add_argument("--steps", type=int, default=300, help="generator steps of the bare session timed (after --warmup)")
    parser.add_argument("--job-steps", type=int, default=1000, help="steps of the train_gan job (0: skip it)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed generator steps first")
    parser.add_argument("--fid-samples", type=int, default=5000, help="generated and real images scored")
    parser.add_argument("--device", default="auto", help="auto (CUDA required), cuda[:n], or cpu")
    parser.add_argument("--width", type=int, help="channels of G and D (default: the config's); small values "
                                                  "only to check the code path on a CPU")
    parser.add_argument("--data", type=Path, default=REPO / "results" / "data" / DATASET)
    parser.add_argument("--inception", help="Inception-v3 TorchScript file (default: the config's fid.inception.path "
                                            "and its fallbacks), or 'random': random weights, for timing only")
    return parser.parse_args(argv)


def paper_run(config_path: Path, optimizer: str, steps: int, width: int | None) -> tuple[RunSpec, dict]:
    """The paper config's run of `optimizer` on CIFAR-10 (its step sizes, or its grid's middle point), cut to `steps`."""
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


def peak_mib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB" if device.type == "cuda" else "n/a (CPU)"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "auto" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU visible (torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
              "nothing measured. Run it on a GPU machine, or check the code path with --device cpu --steps 1 "
              "--width 8 --fid-samples 10.", file=sys.stderr)
        return 1
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
                inception = load_inception(find_inception(args.inception or inception_cfg["path"]), device,
                                           inception_cfg["sha1"])
        except GanoptError as exc:
            print(f"gpu_check: {exc}", file=sys.stderr)
            return 2
        return measure(args, spec, config, device, data, data_dir, real, inception, Path(tmp))


def measure(args: argparse.Namespace, spec: RunSpec, config: dict, device: torch.device, data: Prepared,
            data_dir: Path, real: bool, inception: FeatureSource, tmp: Path) -> int:
    """The three timings, printed as they finish."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}; {args.optimizer}; batch {spec.train.batch_size}, "
          f"n_dis {spec.train.n_dis}, {spec.train.net.arch} width {spec.train.net.width}; "
          f"data: {'prepared CIFAR-10' if real else 'random images in CIFAR-10 files, prepared by ganopt'}; "
          f"inception: {inception.path}", flush=True)

    session = GanSession([spec], data, device)
    session.run(args.warmup)
    sync(device)
    reset_peak(device)
    start = time.perf_counter()
    (reason,) = session.run(args.warmup + args.steps)
    sync(device)
    train_s = time.perf_counter() - start
    if reason:
        print(f"note: the run diverged at step {session.step} ({reason}); timings cover the steps done")
    done = session.step - args.warmup
    if done <= 0:
        print("gpu_check: the run diverged during warm-up; nothing timed", file=sys.stderr)
        return 2
    print(f"session: {done} generator steps ({done * spec.train.n_dis} critic steps) in {train_s:.1f} s = "
          f"{done / train_s:.2f} it/s; peak GPU memory {peak_mib(device)}", flush=True)

    if args.job_steps:
        reset_peak(device)
        wall, per_step, status = job_speed(spec, data_dir, args.job_steps, device, tmp / "job")
        print(f"job:     train_gan, first {args.job_steps} steps of the paper run: {wall:.1f} s in all (start, "
              f"bookkeeping and outputs included), {1 / per_step:.2f} it/s in its loop (median of metrics.csv); "
              f"status {status}; peak GPU memory {peak_mib(device)}", flush=True)

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
    print(f"fid:     {n_img} images (clean resize to 299 on {torch.get_num_threads()} CPU threads, then Inception) "
          f"in {fid_s:.1f} s = {n_img / fid_s:.0f} img/s; peak GPU memory {peak_mib(device)}; "
          f"FID {fid:.2f} after {session.step} steps{meaning}")
    full = config["gan"]["datasets"][DATASET]["train"]["steps"]
    print(f"at this speed one {full}-step paper run trains in {full / (done / train_s) / 3600:.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
