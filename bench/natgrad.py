"""Cost of one natural-gradient step per solver over one GDA step, for MLP players of 1e3..1e6
parameters on n inputs (k = 1 output each), all measured in this run, printed side by side; with
--gan-seeds S, the simple GAN's NG field (ganopt.natgrad.flow.field) for S seeds batched with
structured Jacobians (ganopt.natgrad.mlp) vs the same with each J materialized vs S one-seed calls.

    python bench/natgrad.py [--sizes 1e3 1e4 1e5 1e6] [--n 64] [--primal-max 5e3] [--dense-max 1e6] [--gan-seeds 30]

Routes: primal (P x P, dense J), dual_dense (J J^T from a materialized J), dual (structured
layer-wise Gram, ganopt.natgrad.gram), cg (matrix-free, JVP/VJP through torch.func)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from typing import Callable

import torch
from torch import nn

from ganopt.natgrad.jacobian import ModelJacobian, add_to_params
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction

IN_DIM = 8


def mlp_of_size(p: int) -> nn.Sequential:
    """in 8 -> w -> w -> 1 (tanh) with w chosen so the parameter count is about p."""
    w = int((-(IN_DIM + 3) + math.sqrt((IN_DIM + 3) ** 2 + 4 * (p - 1))) / 2)
    return nn.Sequential(nn.Linear(IN_DIM, w), nn.Tanh(), nn.Linear(w, w), nn.Tanh(), nn.Linear(w, 1))


def time_it(fn: Callable[[], object], budget_s: float = 1.0, max_reps: int = 20) -> float:
    """Median seconds of fn over repeats (one untimed warm-up call)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_reps and (not times or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gda_step(model: nn.Module, x: torch.Tensor, g: torch.Tensor, lr: float = 1e-3) -> None:
    model.zero_grad(set_to_none=True)
    (model(x).reshape(-1) * g).sum().backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)


def ng_step(model: nn.Module, x: torch.Tensor, g: torch.Tensor, solver: str, structured: bool) -> str:
    jac = ModelJacobian(model, x, structured=structured)
    cfg = SolverConfig(solver=solver, damping=1e-3, cg_max_iter=100, cg_tol=1e-6)
    d, info = natural_direction(jac, g, cfg)
    add_to_params(model, cap_step(-1e-3 * d, 0.1))
    return info.solver


def gan_fields(seeds: int) -> None:
    """One NG field evaluation of the simple GAN (config.yaml's natgrad.gan) for `seeds` seeds: batched
    and structured, batched with dense Jacobians, and one seed at a time."""
    from pathlib import Path

    from ganopt.config import from_dict, load_config
    from ganopt.natgrad.flow import field
    from ganopt.natgrad.gan import FiniteGan, GanConfig
    from ganopt.natgrad.jacobian import DenseJacobian

    section = load_config(Path(__file__).resolve().parents[1] / "config.yaml")["natgrad"]["gan"]
    cfg = from_dict(GanConfig, {**section, "seeds": list(range(seeds))}, where="natgrad.gan")
    game = FiniteGan(cfg, cfg.seeds, torch.device("cpu"))
    flow = game.flow_game()
    x = torch.cat([game.theta0, game.phi0], dim=-1)
    dense = dataclasses.replace(flow, F=lambda t: (lambda o, j: (o, DenseJacobian(j.dense())))(*game.gen(t)),
                                G=lambda t: (lambda o, j: (o, DenseJacobian(j.dense())))(*game.dis(t)))
    singles = [FiniteGan(cfg, (s,), torch.device("cpu")).flow_game() for s in cfg.seeds]
    batched = time_it(lambda: field(flow, x, cfg.solver))
    materialized = time_it(lambda: field(dense, x, cfg.solver))
    alone = time_it(lambda: [field(g, x[i:i + 1], cfg.solver) for i, g in enumerate(singles)])
    same = torch.allclose(field(flow, x, cfg.solver)[0][0], field(singles[0], x[:1], cfg.solver)[0][0])
    print(f"simple GAN NG field, {seeds} seeds, P_G + P_D = {x.shape[1]}: batched structured {batched * 1e3:.1f} ms, "
          f"batched dense J {materialized * 1e3:.1f} ms ({materialized / batched:.1f}x), one seed at a time "
          f"{alone * 1e3:.1f} ms ({alone / batched:.1f}x); same numbers: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--n", type=int, default=64, help="inputs per step (outputs nk = n)")
    parser.add_argument("--primal-max", type=float, default=5e3, help="largest P for the P x P route")
    parser.add_argument("--dense-max", type=float, default=1e6, help="largest P for a materialized J")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gan-seeds", type=int, default=0, help="also time the simple GAN's batched NG field")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    routes = {"primal": ("primal", False), "dual_dense": ("dual", False), "dual": ("dual", True), "cg": ("cg", True)}
    print(f"n = {args.n} inputs, k = 1, float32, {args.threads} thread(s); cost = NG step time / GDA step time")
    print(f"{'P':>9} {'gda ms':>9} " + " ".join(f"{r:>14}" for r in routes))
    for size in args.sizes:
        model = mlp_of_size(int(size))
        p = sum(q.numel() for q in model.parameters())
        x, g = torch.randn(args.n, IN_DIM), torch.randn(args.n)
        base = time_it(lambda: gda_step(model, x, g))
        cells = []
        for name, (solver, structured) in routes.items():
            if (name == "primal" and p > args.primal_max) or (name == "dual_dense" and p > args.dense_max):
                cells.append(f"{'skip':>14}")
                continue
            t = time_it(lambda: ng_step(model, x, g, solver, structured), budget_s=2.0)
            cells.append(f"{t / base:>8.1f}x{t * 1e3:>4.0f}ms" if t < 10 else f"{t / base:>9.0f}x{t:>3.0f}s")
        print(f"{p:>9} {base * 1e3:>9.2f} " + " ".join(cells), flush=True)
    if args.gan_seeds:
        gan_fields(args.gan_seeds)


if __name__ == "__main__":
    main()
