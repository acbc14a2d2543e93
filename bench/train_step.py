"""Time ganopt's training step (the full train_gan loop with MLflow tracking on) against a bare
hand-written PyTorch loop with torch.optim.Adam on the same model, batch size and data, side by
side in one run (interleaved rounds), and print the ratio (goal: at most 1.10).

    python bench/train_step.py [--device auto] [--steps 600] [--rounds 3] [--threads 1]

The bare loop runs twice: torch.optim.Adam's default (on the CPU a per-tensor loop) and
foreach=True (the multi-tensor kernels, the default on CUDA); both ratios are printed.
All arms run the alternating scheme with the same losses and the same number of forward
passes (D step on a real batch and detached fakes, then a G step on fresh fakes). ganopt's
time per step is what train_gan writes in metrics.csv (time/sec_per_step: wall time of the
loop between rows, including metrics/norms bookkeeping, MLflow batching, snapshots and
resume checkpoints at the default intervals); the bare loop is timed over the same steps.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganopt.data import load_prepared, prepare_dataset
from ganopt.gan.losses import get_loss
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import build_pair
from ganopt.gan.session import TrainConfig
from ganopt.gan.train import TrainJob, train_gan
from ganopt.runtime import select_device

CASES = {  # name: (dataset, net, batch size)
    "ring8 mlp": ("ring8", NetConfig("mlp", z_dim=2, width=128, depth=2), 128),
    "digits mlp": ("digits", NetConfig("mlp", z_dim=16, width=128, depth=2), 64),
    "digits dcgan": ("digits", NetConfig("dcgan", z_dim=16, width=16), 64),
}
BETAS = (0.5, 0.999)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(data: torch.Tensor, net: NetConfig, batch: int, steps: int, device: torch.device,
              foreach: bool | None) -> float:
    """Seconds per step of a minimal hand-written alternating GAN loop with torch.optim.Adam."""
    torch.manual_seed(0)
    G, D = (m.to(device) for m in build_pair(net, tuple(data.shape[1:])))
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=BETAS, foreach=foreach)
    opt_d = torch.optim.Adam(D.parameters(), 1e-3, betas=BETAS, foreach=foreach)
    loss = get_loss("nonsaturating")
    gen = torch.Generator().manual_seed(0)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        real = data[torch.randint(len(data), (batch,), generator=gen).to(device)]
        fake = G(torch.randn(batch, net.z_dim, generator=gen).to(device)).detach()
        opt_d.zero_grad()
        loss.d(D(real), D(fake)).backward()
        opt_d.step()
        opt_g.zero_grad()
        loss.g(D(G(torch.randn(batch, net.z_dim, generator=gen).to(device)))).backward()
        opt_g.step()
    sync(device)
    return (time.perf_counter() - start) / steps


def ganopt_loop(data_dir: Path, dataset: str, net: NetConfig, batch: int, steps: int, device: str,
                out: Path, tracking: dict) -> float:
    """Seconds per step of train_gan's loop, from its metrics.csv."""
    train = TrainConfig(steps=steps, batch_size=batch, scheme="alternating", net=net)
    job = TrainJob(dataset=dataset, optimizer="adam", seed=0, data_dir=str(data_dir), train=train, lr_g=1e-3,
                   lr_d=1e-3, hparams={"betas": list(BETAS)}, tracking=tracking, device=device)
    train_gan([job], out)
    with open(out / "seed0" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps_per_row = [int(r["step"]) - int(p["step"]) for p, r in zip([{"step": 0}] + rows[:-1], rows)]
    return sum(float(r["time/sec_per_step"]) * n for r, n in zip(rows, steps_per_row)) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tracking = {"enabled": True, "uri": f"sqlite:///{root}/mlflow.db", "artifact_location": str(root / "art"),
                    "experiment": "bench"}
        print(f"device {device}, threads {args.threads}, {args.steps} steps x {args.rounds} interleaved rounds, "
              f"MLflow tracking on (sqlite)")
        print(f"{'case':<14}{'bare ms/step':>14}{'bare foreach':>14}{'ganopt ms/step':>16}"
              f"{'ratio':>8}{'ratio vs foreach':>18}")
        for name in args.cases:
            dataset, net, batch = CASES[name]
            data_dir = root / "data" / dataset
            if not data_dir.exists():
                prepare_dataset(dataset, None, data_dir)
            data = load_prepared(data_dir).train.to(device)
            bare, fast, ours = [], [], []
            for r in range(args.rounds):
                bare.append(bare_loop(data, net, batch, args.steps, device, foreach=None))
                fast.append(bare_loop(data, net, batch, args.steps, device, foreach=True))
                ours.append(ganopt_loop(data_dir, dataset, net, batch, args.steps, args.device,
                                        root / f"run-{name.replace(' ', '_')}-{r}", tracking))
            b, f, o = (statistics.median(x) for x in (bare, fast, ours))
            print(f"{name:<14}{b * 1e3:>14.3f}{f * 1e3:>14.3f}{o * 1e3:>16.3f}{o / b:>8.3f}{o / f:>18.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
