"""Benchmark: the batched toy simulation (all seeds in one tensor program) vs a seed-by-seed
loop of the same work, side by side in one run. Settings: config.yaml's toy section (the
optimizer's headline step sizes, or all of them with --all-settings, which the loop then
batches per seed), with --steps/--seeds overrides.
Usage: python bench/toy.py [--optimizer sgda] [--seeds 16] [--steps 1000] [--all-settings]"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from ganopt.config import load_config
from ganopt.toy import ToyConfig, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", default="sgda")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--all-settings", action="store_true", help="every lrs pair, not only the first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    toy = load_config(Path(__file__).resolve().parents[1] / "config.yaml")["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers")}
    lrs = toy["optimizers"].get(args.optimizer, {"lrs": [[0.01, 0.03]]})["lrs"]
    lrs = lrs if args.all_settings else lrs[:1]
    cfg = ToyConfig(**{**settings, "lrs": lrs, "steps": args.steps, "n_seeds": args.seeds})
    seeds = list(range(args.seeds))
    simulate(dataclasses.replace(cfg, steps=10), args.optimizer, seeds[:2], args.device)  # warm-up

    start = time.perf_counter()
    batched = simulate(cfg, args.optimizer, seeds, args.device)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    alone = [simulate(cfg, args.optimizer, [s], args.device) for s in seeds]
    t_loop = time.perf_counter() - start

    key = "recovery/u1/all"
    same = all(torch.allclose(a.metrics[key], batched.metrics[key][:, i::args.seeds], equal_nan=True)
               for i, a in enumerate(alone))
    runs = args.seeds * len(lrs)
    print(f"toy {args.optimizer}: {runs} runs ({args.seeds} seeds x {len(lrs)} settings), {args.steps} steps, "
          f"d={cfg.d}, m_g={cfg.m_g}, m_d={cfg.m_d}, batch {cfg.batch_size}, {args.threads} thread(s), "
          f"{args.device}")
    print(f"  batched (one tensor program): {t_batched:8.2f} s")
    print(f"  seed-by-seed loop:            {t_loop:8.2f} s")
    print(f"  speed-up: {t_loop / t_batched:.1f}x   (same numbers: {same})")


if __name__ == "__main__":
    main()
