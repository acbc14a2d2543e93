"""The batched toy simulation: every (step-size setting, seed) pair is one run along dim 0 of
every tensor, so all of them advance in one tensor program. Each seed owns a torch.Generator
(modes, init, then batches drawn `chunk` steps at a time), so a run's numbers do not depend on
which other runs share the batch; settings of one seed share its init and samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ganopt.toy.config import ToyConfig
from ganopt.toy.metrics import latent_metrics
from ganopt.toy.model import Draws, Game, Params, dense_batch, draw_samples, init_params, modes, objective_grads
from ganopt.toy.updates import Directions, per_run


@dataclass
class Trajectory:
    """Metrics along the runs: `metrics[name]` is (n_eval, R) on the CPU; run r has seed
    `seeds[r]`, setting index `settings[r]` and step sizes `lr_g[r]`, `lr_d[r]`."""

    steps: list[int]
    metrics: dict[str, torch.Tensor]
    seeds: list[int]
    settings: list[int]
    lr_g: list[float]
    lr_d: list[float]


def _start(cfg: ToyConfig, gens: list[torch.Generator], dtype: torch.dtype) -> tuple[torch.Tensor, Params]:
    """Per-seed modes and init, stacked: U (n_seeds, d, 2) and Params with n_seeds runs."""
    U, Ps = [], []
    for gen in gens:
        U.append(modes(cfg.d, cfg.u_cos, gen, dtype))
        Ps.append(init_params(cfg.d, cfg.m_g, cfg.m_d, cfg.init_g, cfg.init_d, gen, dtype))
    return torch.stack(U), Params(*(torch.stack([getattr(p, k) for p in Ps]) for k in ("V", "W", "b")))


def _draw_chunk(cfg: ToyConfig, gens: list[torch.Generator], steps: int) -> Draws:
    """The next `steps` batches of every seed (each from its own generator), (steps, n_seeds, n)."""
    parts = [draw_samples(steps, cfg.batch_size, cfg.m_g, cfg.mix, cfg.pair_fraction, g) for g in gens]
    return Draws(*(torch.stack([getattr(d, k) for d in parts], 1) for k in ("first", "i", "j", "pair")))


def simulate(cfg: ToyConfig, optimizer: str, seeds: Sequence[int],
             device: torch.device | str = "cpu") -> Trajectory:
    """Run `optimizer` (simultaneous updates) for cfg.steps steps on every (lrs setting, seed)."""
    dtype = getattr(torch, cfg.dtype)
    seeds = list(seeds)
    n_seeds = len(seeds)
    runs = [(k, s) for k in range(len(cfg.lrs)) for s in range(n_seeds)]
    seed_of_run = torch.tensor([s for _, s in runs], device=device)
    lr_g = torch.tensor([cfg.lrs[k][0] for k, _ in runs], dtype=dtype, device=device)
    lr_d = torch.tensor([cfg.lrs[k][1] for k, _ in runs], dtype=dtype, device=device)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    U, p = _start(cfg, gens, dtype)
    U = U.to(device)[seed_of_run]
    p = Params(*(t.to(device)[seed_of_run] for t in (p.V, p.W, p.b)))
    V0 = p.V.clone()
    game = Game(a=cfg.a, lam=cfg.lam, threshold=cfg.cubic_threshold)
    rule = Directions(optimizer, cfg.betas, cfg.adam_eps)
    eval_steps, records = [], []
    for t in range(cfg.steps + 1):
        if t % cfg.chunk == 0:
            chunk = _draw_chunk(cfg, gens, min(cfg.chunk, cfg.steps + 1 - t))
            chunk = Draws(*(x.to(device)[:, seed_of_run] for x in (chunk.first, chunk.i, chunk.j, chunk.pair)))
        g = objective_grads(p, U, dense_batch(chunk.index(t % cfg.chunk), cfg.m_g, dtype), game)
        if t % cfg.eval_every == 0 or t == cfg.steps:
            m = latent_metrics(p.V, V0, p.W, U, cfg.recover_cos, cfg.moved_factor)
            m.update({"loss/D": -g.value, "loss/G": g.loss_g, "bias": p.b[:, 0]})
            eval_steps.append(t)
            records.append(m)
        if t == cfg.steps:
            break
        (dV,) = rule("G", [g.V], t + 1)
        dD = rule("D", [g.W, g.b] if cfg.train_bias else [g.W], t + 1)
        p.V = torch.addcmul(p.V, per_run(-lr_g, p.V), dV)       # G descends f
        p.W = torch.addcmul(p.W, per_run(lr_d, p.W), dD[0])     # D ascends f
        if cfg.train_bias:
            p.b = torch.addcmul(p.b, per_run(lr_d, p.b), dD[1])
    metrics = {k: torch.stack([r[k] for r in records]).cpu().double() for k in records[0]}
    return Trajectory(steps=eval_steps, metrics=metrics, seeds=[seeds[s] for _, s in runs],
                      settings=[k for k, _ in runs], lr_g=lr_g.cpu().tolist(), lr_d=lr_d.cpu().tolist())
