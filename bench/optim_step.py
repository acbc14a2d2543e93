"""Time one optimizer step of the composed optimizers against torch.optim.Adam on the same
DCGAN-sized parameters and gradients, side by side in one run, and print the ratios.

    python bench/optim_step.py [--device auto] [--repeats 7] [--steps 50] [--threads 1]

The composed step also computes per-tensor update/direction norms (kept on the device); the
"+read" column adds reading them as Python floats every step, the worst case for a loop that
logs norms (the training loop reads them only every N steps).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ganopt.optim import build_optimizer
from ganopt.runtime import select_device


def dcgan_pair(z_dim: int = 100, width: int = 64, channels: int = 3) -> nn.Module:
    """G and D of a 32x32 DCGAN (Radford et al. 2016): about 1.7M parameters in 21 tensors."""
    g = nn.Sequential(
        nn.ConvTranspose2d(z_dim, width * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(width * 4), nn.ReLU(),
        nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU(),
        nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2),
        nn.Conv2d(width * 2, width * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 4), nn.LeakyReLU(0.2),
        nn.Conv2d(width * 4, 1, 4, 1, 0))
    return nn.ModuleDict({"G": g, "D": d})


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_step(step: Callable[[], None], steps: int, device: torch.device) -> float:
    step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    torch.manual_seed(0)
    model = dcgan_pair().to(device)
    named = list(model.named_parameters())
    for _, p in named:
        p.grad = torch.randn_like(p)
    print(f"device {device}, {sum(p.numel() for _, p in named) / 1e6:.2f}M parameters in {len(named)} tensors, "
          f"{args.threads} thread(s), median of {args.repeats} x {args.steps} steps")

    reference = torch.optim.Adam([p for _, p in named], lr=1e-4)
    candidates = {name: build_optimizer(name, named, lr=1e-4)
                  for name in ("adam", "adalr", "adadir", "nsgda_layer", "optimistic_adam")}

    def with_read(opt):
        def step():
            opt.step()
            _ = opt.last_update_norms  # the read is what is timed
        return step

    runs = {"torch.optim.Adam": reference.step}
    for name, opt in candidates.items():
        runs[name] = opt.step
        runs[f"{name} +read"] = with_read(opt)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every variant alike
        for key, step in runs.items():
            times[key].append(seconds_per_step(step, args.steps, device))
    base = statistics.median(times["torch.optim.Adam"])
    print(f"{'optimizer':<24}{'ms/step':>10}{'ratio':>8}")
    for key, values in times.items():
        t = statistics.median(values)
        print(f"{key:<24}{t * 1e3:>10.3f}{t / base:>8.2f}")


if __name__ == "__main__":
    main()
