"""GPU check of the paper configuration: a few hundred generator steps of its CIFAR-10 ResNet
WGAN-GP and a 5k-sample Inception FID, printing it/s and peak GPU memory. Run it whenever a GPU
is at hand:

    python bench/gpu_check.py                                        # CUDA GPU: the defaults
    python bench/gpu_check.py --device cpu --steps 1 --width 8 --fid-samples 10   # the code path on a CPU

Uses the prepared CIFAR-10 (results/data/cifar10) when present, else random images of its shape
(speed does not depend on the pixels; the FID is then not a quality number, and says so)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ganopt.checkpoint import sample  # noqa: E402
from ganopt.config import from_dict, validate_config  # noqa: E402
from ganopt.data import Prepared, load_prepared  # noqa: E402
from ganopt.errors import GanoptError  # noqa: E402
from ganopt.metrics.features import find_inception, load_inception  # noqa: E402
from ganopt.metrics.fid import extract, frechet, gaussian_stats  # noqa: E402
from ganopt.runtime import select_device  # noqa: E402
from ganopt.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs  # noqa: E402

DATASET = "cifar10"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    parser.add_argument("--optimizer", default="adam", help="a registry name of the config's optimizers")
    parser.add_argument("--steps", type=int, default=300, help="generator steps timed (after --warmup)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed generator steps first")
    parser.add_argument("--fid-samples", type=int, default=5000, help="generated and real images scored")
    parser.add_argument("--device", default="auto", help="auto (CUDA required), cuda[:n], or cpu")
    parser.add_argument("--width", type=int, help="channels of G and D (default: the config's); small values "
                                                  "only to check the code path on a CPU")
    parser.add_argument("--data", type=Path, default=REPO / "results" / "data" / DATASET)
    parser.add_argument("--inception", help="Inception-v3 TorchScript file (default: the config's fid.inception.path "
                                            "and its fallbacks)")
    return parser.parse_args(argv)


def paper_run(config_path: Path, optimizer: str, steps: int, width: int | None) -> tuple[RunSpec, dict]:
    """The paper config's run of `optimizer` on CIFAR-10 (its untuned step sizes), cut to `steps`."""
    config = validate_config(yaml.safe_load(config_path.read_text()))
    gan = config["gan"]
    section = gan["datasets"][DATASET]
    if optimizer not in section["optimizers"]:
        raise GanoptError(f"optimizer '{optimizer}' is not in {config_path}'s gan.datasets.{DATASET}.optimizers")
    net = {**section["train"]["net"], **({"width": width} if width else {})}
    train = from_dict(TrainConfig, {**section["train"], "steps": steps, "net": net},
                      where=f"gan.datasets.{DATASET}.train")
    lrs = section["optimizers"][optimizer]
    spec = RunSpec(optimizer, lrs["lr_g"], lrs["lr_d"], seed=0, train=train,
                   hparams=optimizer_kwargs(gan["hparams"].get(optimizer, {})))
    return spec, config


def cifar_data(path: Path, n: int) -> tuple[Prepared, bool]:
    """The prepared CIFAR-10, or random images of its shape (False: not real data)."""
    if (path / "manifest.json").exists():
        return load_prepared(path), True
    gen = torch.Generator().manual_seed(0)
    fake = torch.rand(max(n, 1024), 3, 32, 32, generator=gen) * 2 - 1
    return Prepared(DATASET, "images", fake, fake[: n // 4 or 1], {}), False


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
    try:
        device = select_device(args.device)
        spec, config = paper_run(args.config, args.optimizer, args.warmup + args.steps, args.width)
        data, real = cifar_data(args.data, args.fid_samples)
        inception_cfg = config["fid"]["inception"]
        inception = load_inception(find_inception(args.inception or inception_cfg["path"]), device,
                                   inception_cfg["sha1"])
    except GanoptError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}; {args.optimizer}; batch {spec.train.batch_size}, "
          f"n_dis {spec.train.n_dis}, {spec.train.net.arch} width {spec.train.net.width}; "
          f"data: {'prepared CIFAR-10' if real else 'random images of CIFAR-10 shape'}")

    session = GanSession(spec, data, device)
    session.run(args.warmup)
    sync(device)
    reset_peak(device)
    start = time.perf_counter()
    reason = session.run(args.warmup + args.steps)
    sync(device)
    train_s = time.perf_counter() - start
    train_peak = peak_mib(device)
    if reason:
        print(f"note: the run diverged at step {session.step} ({reason}); timings cover the steps done")
    done = session.step - args.warmup
    if done <= 0:
        print("gpu_check: the run diverged during warm-up; nothing timed", file=sys.stderr)
        return 2

    reset_peak(device)
    start = time.perf_counter()
    fake = sample(session.G.eval(), args.fid_samples, seed=0, batch_size=500)
    feats_fake = extract(inception, fake, device=device)
    feats_real = extract(inception, data.train[: args.fid_samples], device=device)
    sync(device)
    fid_s = time.perf_counter() - start
    fid = frechet(gaussian_stats(feats_fake), gaussian_stats(feats_real))
    n_img = len(feats_fake) + len(feats_real)

    print(f"train: {done} generator steps ({done * spec.train.n_dis} critic steps) in {train_s:.1f} s = "
          f"{done / train_s:.2f} it/s; peak GPU memory {train_peak}")
    print(f"fid:   {n_img} images through Inception in {fid_s:.1f} s = {n_img / fid_s:.0f} img/s; "
          f"peak GPU memory {peak_mib(device)}; FID {fid:.2f} after {session.step} steps"
          f"{'' if real else ' (random data: not a quality number)'}")
    full = config["gan"]["datasets"][DATASET]["train"]["steps"]
    print(f"at this speed one {full}-step paper run trains in {full / (done / train_s) / 3600:.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
