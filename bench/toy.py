"""Benchmark: the batched toy simulation (all seeds in one tensor program) vs a seed-by-seed
loop of the same work, side by side in one run. Settings: config.yaml's toy section at its
headline d (the optimizer's step sizes; the headline <u1,u2> and init scale, or every sweep pair
with --all-settings, which the loop then batches per seed), with --steps/--seeds overrides.
Usage: python bench/toy.py [--optimizer sgda] [--seeds 16] [--steps 1000] [--all-settings]"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import torch

from ganopt.config import load_config
from ganopt.toy.config import ToyConfig
from ganopt.toy.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", default="sgda")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--d", type=int, default=None, help="one of toy.d (default: the first)")
    parser.add_argument("--all-settings", action="store_true", help="every u_cos, not only the first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    toy = load_config(Path(__file__).resolve().parents[1] / "config.yaml")["toy"]
    settings = {k: v for k, v in toy.items() if k not in ("activate", "optimizers", "tune")}
    if not args.all_settings:
        settings.update(u_cos=settings["u_cos"][:1])
    d = args.d or settings["d"][0]
    lrs = toy["optimizers"].get(args.optimizer, {"lr_g": [0.01] * len(settings["d"]), "lr_d": [0.03] * len(settings["d"])})
    i = settings["d"].index(d)
    cfg = ToyConfig(**{**settings, "d": [d], "lr_g": [lrs["lr_g"][i]], "lr_d": [lrs["lr_d"][i]],
                       "steps_per_log": args.steps / math.log(d), "n_seeds": args.seeds})
    seeds = list(range(args.seeds))
    simulate(dataclasses.replace(cfg, steps_per_log=10 / math.log(d)), args.optimizer, d, seeds[:2],
             device=args.device)  # warm-up

    start = time.perf_counter()
    batched = simulate(cfg, args.optimizer, d, seeds, device=args.device)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    alone = [simulate(cfg, args.optimizer, d, [s], device=args.device) for s in seeds]
    t_loop = time.perf_counter() - start

    key = "p1"
    same = all(torch.allclose(a.metrics[key], batched.metrics[key][:, i::args.seeds], equal_nan=True)
               for i, a in enumerate(alone))
    runs = args.seeds * len(cfg.u_cos)
    print(f"toy {args.optimizer}: {runs} runs ({args.seeds} seeds x {len(cfg.u_cos)} u_cos), {cfg.steps(d)} "
          f"steps, d={d}, m_G = m_D = {cfg.m(d)}, batch {cfg.batch_size}, {args.threads} thread(s), {args.device}")
    print(f"  batched (one tensor program): {t_batched:8.2f} s")
    print(f"  seed-by-seed loop:            {t_loop:8.2f} s")
    print(f"  speed-up: {t_loop / t_batched:.1f}x   (same numbers: {same})")


if __name__ == "__main__":
    main()
