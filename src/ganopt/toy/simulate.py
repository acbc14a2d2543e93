"""The batched toy simulation: for one data dimension d, every (setting, seed) pair is one run along
dim 0 of every tensor, so all of them advance in one tensor program. A setting is a (<u1, u2>,
eta_G, eta_D) triple: the study's job has one step-size pair per d, the tuning job a grid of them.
Each seed owns a torch.Generator (its modes' plane, its init, then batches drawn `chunk` steps at a
time), so a run's numbers do not depend on which other runs share the batch; the settings of one
seed share its plane, init and samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ganopt.toy.config import ToyConfig, init_norm
from ganopt.toy.metrics import latent_metrics
from ganopt.toy.model import (
    Draws,
    Game,
    Params,
    dense_batch,
    draw_samples,
    init_params,
    modes,
    objective_grads,
    plane,
)
from ganopt.toy.updates import BatchedPlayer


@dataclass
class Trajectory:
    """Metrics along the runs: `metrics[name]` is (n_eval, R) on the CPU; run r has seed
    `seeds[r]`, <u1, u2> `u_cos[r]` and step sizes `lr_g[r]`, `lr_d[r]`; all have dimension `d`
    and m_G = m_D = `m` latents and neurons."""

    d: int
    m: int
    steps: list[int]
    metrics: dict[str, torch.Tensor]
    seeds: list[int]
    u_cos: list[float]
    lr_g: list[float]
    lr_d: list[float]


def _start(cfg: ToyConfig, d: int, m: int, gens: list[torch.Generator], dtype: torch.dtype
           ) -> tuple[list[torch.Tensor], Params]:
    """Per seed: the modes' plane (d, 2) and the init, stacked into Params (n_seeds runs)."""
    planes, Ps = [], []
    for gen in gens:
        planes.append(plane(d, gen))
        Ps.append(init_params(d, m, m, init_norm(d, cfg.init_g), init_norm(d, cfg.init_d), gen, dtype))
    return planes, Params(*(torch.stack([getattr(p, k) for p in Ps]) for k in ("V", "W", "b")))


def _draw_chunk(cfg: ToyConfig, m: int, gens: list[torch.Generator], steps: int) -> Draws:
    """The next `steps` batches of every seed (each from its own generator), (steps, n_seeds, n)."""
    parts = [draw_samples(steps, cfg.batch_size, m, cfg.mix, cfg.pair_fraction, g) for g in gens]
    return Draws(*(torch.stack([getattr(x, k) for x in parts], 1) for k in ("first", "i", "j", "pair")))


def simulate(cfg: ToyConfig, optimizer: str, d: int, seeds: Sequence[int],
             lrs: Sequence[tuple[float, float]] | None = None, device: torch.device | str = "cpu") -> Trajectory:
    """Run registry optimizer `optimizer` (simultaneous updates) for T(d) steps on every (<u1, u2>
    of cfg.u_cos, step-size pair (eta_G, eta_D) of `lrs`, seed) at data dimension d; `lrs` defaults
    to the config's one pair at d."""
    dtype = getattr(torch, cfg.dtype)
    seeds, m, steps = list(seeds), cfg.m(d), cfg.steps(d)
    runs = [(c, lr, k) for c in cfg.u_cos for lr in (lrs or [cfg.lrs(d)]) for k in range(len(seeds))]
    seed_of_run = torch.tensor([k for _, _, k in runs], device=device)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    planes, base = _start(cfg, d, m, gens, dtype)
    U = torch.stack([modes(planes[k], c, dtype) for c, _, k in runs]).to(device)
    p = Params(*(t.to(device)[seed_of_run] for t in (base.V, base.W, base.b)))
    V0 = p.V.clone()
    game = Game(a=cfg.a, lam=cfg.lam, threshold=cfg.cubic_threshold)
    hparams = {"betas": cfg.betas, "eps": cfg.adam_eps}
    per_run = [torch.tensor([lr[i] for _, lr, _ in runs], dtype=dtype, device=device) for i in (0, 1)]
    gen_player = BatchedPlayer(optimizer, [p.V], per_run[0], **hparams)
    dis_player = BatchedPlayer(optimizer, [p.W, p.b] if cfg.train_bias else [p.W], per_run[1], **hparams)
    eval_steps, records = [], []
    for t in range(steps + 1):
        if t % cfg.chunk == 0:
            chunk = _draw_chunk(cfg, m, gens, min(cfg.chunk, steps + 1 - t))
            chunk = Draws(*(x.to(device)[:, seed_of_run] for x in (chunk.first, chunk.i, chunk.j, chunk.pair)))
        g = objective_grads(p, U, dense_batch(chunk.index(t % cfg.chunk), m, dtype), game)
        if t % cfg.eval_every == 0 or t == steps:
            metrics = latent_metrics(p.V, V0, p.W, U, cfg.cone, cfg.moved_factor, cfg.pair_fraction)
            metrics.update({"loss/D": -g.value, "loss/G": g.loss_g, "bias": p.b[:, 0].clone()})
            eval_steps.append(t)
            records.append(metrics)
        if t == steps:
            break
        gen_player.step([g.V])                                   # G descends f
        dis_player.step([-g.W, -g.b] if cfg.train_bias else [-g.W])  # D ascends f
    metrics = {k: torch.stack([r[k] for r in records]).cpu().double() for k in records[0]}
    return Trajectory(d=d, m=m, steps=eval_steps, metrics=metrics, seeds=[seeds[k] for _, _, k in runs],
                      u_cos=[c for c, _, _ in runs], lr_g=[lr[0] for _, lr, _ in runs],
                      lr_d=[lr[1] for _, lr, _ in runs])
