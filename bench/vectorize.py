"""Training-loop throughput of S runs batched in one session (ganopt.gan.session) against one run at a
time (a session of S = 1), on the study config's MLPs, side by side in one process, and the GEMM
ceiling that bounds the ratio.

For each dataset x optimizer: ms per step of one run (GanSession of one spec), of S runs batched (one
GanSession of S specs) and the speedup S * one / batched. The ceiling replays the matrix products
of one run's step (their shapes read off the profiler) as S separate products and as one batched
product: a batched step
cannot cost less than its batched products, and when one run's products already run near the
machine's peak, batching removes at most the rest of the step. On a GPU, where one small run
leaves the device idle, the ratio grows with S instead.

    python bench/vectorize.py [--config config.yaml] [--device auto] [--runs 10] [--steps 200]
                              [--datasets ...] [--optimizers ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from optim_step import seconds_per_step, sync  # the optimizer benchmark's timer

from ganopt.config import from_dict, load_config
from ganopt.data import load_prepared, prepare_dataset
from ganopt.gan.session import GanSession, RunSpec, TrainConfig, optimizer_kwargs
from ganopt.gan.tune import config_points
from ganopt.runtime import select_device

GEMMS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")  # a session of one runs batched products


def per_step(run: Callable[[int], object], step: Callable[[], int], steps: int, device: torch.device) -> float:
    """Seconds per step of `run(until)` after 20 warm-up steps."""
    run(step() + 20)
    sync(device)
    start = time.perf_counter()
    run(step() + steps)
    sync(device)
    return (time.perf_counter() - start) / steps


def gemm_shapes(session: GanSession, steps: int = 5) -> list[tuple[list[int], list[int], float]]:
    """(a, b, calls per step) of every matrix product one run's step does (bias adds left out; the
    leading seed dim of a batch of one dropped)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        session.run(session.step + steps)
    out = []
    for event in prof.key_averages(group_by_input_shape=True):
        if event.key in GEMMS:
            a, b = event.input_shapes[-2:] if event.key in ("aten::mm", "aten::bmm") else event.input_shapes[1:3]
            out.append((list(a)[-2:], list(b)[-2:], event.count / steps))
    return out


def gemm_time(shapes: list[tuple[list[int], list[int], float]], runs: int, batched: bool, device: torch.device,
              repeats: int = 200) -> float:
    """Seconds per step of the step's products for `runs` runs: one product per run, or one batched."""
    total = 0.0
    for a_shape, b_shape, calls in shapes:
        lead = [runs] if batched else []
        a, b = torch.randn(lead + a_shape, device=device), torch.randn(lead + b_shape, device=device)
        product = (lambda: torch.bmm(a, b)) if batched else (lambda: torch.mm(a, b))
        total += seconds_per_step(product, repeats, device) * calls * (1 if batched else runs)
    return total


def specs_of(config: dict, dataset: str, optimizer: str, runs: int) -> list[RunSpec]:
    gan = config["gan"]
    section = gan["datasets"][dataset]
    steps_cfg = section["optimizers"][optimizer]
    grid = config_points(steps_cfg)
    lr_g, lr_d = grid[len(grid) // 2]
    train = from_dict(TrainConfig, section["train"], where=f"gan.datasets.{dataset}.train")
    hparams = optimizer_kwargs(gan["hparams"].get(optimizer, {}))
    return [RunSpec(optimizer, lr_g, lr_d, seed=seed, train=train, hparams=hparams) for seed in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, nargs="+", default=[10], help="runs batched (S); several to compare")
    parser.add_argument("--steps", type=int, default=200, help="steps timed")
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--optimizers", nargs="*", default=["sgda", "adam", "nsgda_layer"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the study's jobs use 1)")
    parser.add_argument("--data", default="results/bench-data", help="where the datasets are prepared")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    config = load_config(args.config)
    datasets = args.datasets or [d for d, s in config["gan"]["datasets"].items() if s["train"]["net"]["arch"] == "mlp"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"{name}, torch {torch.__version__}; {args.steps} steps timed per arm")
    print(f"{'dataset':<8}{'optimizer':<14}{'S':>5}{'one ms/step':>13}{'S runs ms/step':>16}{'speedup':>9}"
          f"{'GEMM ceiling':>14}{'GEMM share':>12}")
    for dataset in datasets:
        folder = f"{args.data}/{dataset}"
        prepare_dataset(dataset, config["data"][dataset] or {}, folder)
        data = load_prepared(folder)
        for optimizer in args.optimizers:
            for runs in args.runs:
                specs = specs_of(config, dataset, optimizer, runs)
                one = GanSession(specs[:1], data, device)
                t_one = per_step(one.run, lambda: one.step, args.steps, device)
                vec = GanSession(specs, data, device)
                t_vec = per_step(vec.run, lambda: vec.step, args.steps, device)
                ceiling = share = float("nan")
                if device.type == "cpu":  # the profiler's shapes; on a GPU the step is launch-bound instead
                    shapes = gemm_shapes(one)
                    share = gemm_time(shapes, 1, False, device) / t_one
                    ceiling = runs * t_one / gemm_time(shapes, runs, True, device)
                print(f"{dataset:<8}{optimizer:<14}{runs:>5}{1e3 * t_one:>13.2f}{1e3 * t_vec:>16.2f}"
                      f"{runs * t_one / t_vec:>8.2f}x{ceiling:>13.2f}x{100 * share:>11.0f}%", flush=True)
    print("speedup: S runs one at a time / S runs batched, loop only. GEMM ceiling: S one-run steps / the batched "
          "step's matrix products alone (CPU). GEMM share: one run's products / its whole step.")


if __name__ == "__main__":
    main()
