"""The batched toy simulation: for one data dimension d, every (sweep setting, seed) pair is one
run along dim 0 of every tensor, so all of them advance in one tensor program. A setting is a
(<u1, u2>, init scale) pair. Each seed owns a torch.Generator (its modes' plane, its unit init,
then batches drawn `chunk` steps at a time), so a run's numbers do not depend on which other runs
share the batch; the settings of one seed share its plane, init directions and samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ganopt.toy.config import ToyConfig
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
    `seeds[r]`, <u1, u2> `u_cos[r]` and init scale `init_scale[r]`; all have dimension `d`."""

    d: int
    steps: list[int]
    metrics: dict[str, torch.Tensor]
    seeds: list[int]
    u_cos: list[float]
    init_scale: list[float]


def _start(cfg: ToyConfig, d: int, gens: list[torch.Generator], dtype: torch.dtype
           ) -> tuple[list[torch.Tensor], Params]:
    """Per seed: the modes' plane (d, 2) and the init at scale 1, stacked into Params (n_seeds runs)."""
    planes, Ps = [], []
    for gen in gens:
        planes.append(plane(d, gen))
        Ps.append(init_params(d, cfg.m_g, cfg.m_d, cfg.init_g, cfg.init_d, gen, dtype))
    return planes, Params(*(torch.stack([getattr(p, k) for p in Ps]) for k in ("V", "W", "b")))


def _draw_chunk(cfg: ToyConfig, gens: list[torch.Generator], steps: int) -> Draws:
    """The next `steps` batches of every seed (each from its own generator), (steps, n_seeds, n)."""
    parts = [draw_samples(steps, cfg.batch_size, cfg.m_g, cfg.mix, cfg.pair_fraction, g) for g in gens]
    return Draws(*(torch.stack([getattr(x, k) for x in parts], 1) for k in ("first", "i", "j", "pair")))


def simulate(cfg: ToyConfig, optimizer: str, d: int, seeds: Sequence[int],
             device: torch.device | str = "cpu") -> Trajectory:
    """Run registry optimizer `optimizer` (simultaneous updates, step sizes cfg.lr_g, cfg.lr_d) for
    cfg.steps steps on every (setting of cfg.settings, seed) at data dimension d."""
    dtype = getattr(torch, cfg.dtype)
    seeds = list(seeds)
    runs = [(c, scale, k) for c, scale in cfg.settings for k in range(len(seeds))]
    seed_of_run = torch.tensor([k for _, _, k in runs], device=device)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    planes, base = _start(cfg, d, gens, dtype)
    U = torch.stack([modes(planes[k], c, dtype) for c, _, k in runs]).to(device)
    scale = torch.tensor([s for _, s, _ in runs], dtype=dtype, device=device).view(-1, 1, 1)
    p = Params(*(t.to(device)[seed_of_run] for t in (base.V, base.W, base.b)))
    p.V, p.W = p.V * scale, p.W * scale
    V0 = p.V.clone()
    game = Game(a=cfg.a, lam=cfg.lam, threshold=cfg.cubic_threshold)
    hparams = {"betas": cfg.betas, "eps": cfg.adam_eps}
    gen_player = BatchedPlayer(optimizer, [p.V], cfg.lr_g, **hparams)
    dis_player = BatchedPlayer(optimizer, [p.W, p.b] if cfg.train_bias else [p.W], cfg.lr_d, **hparams)
    eval_steps, records = [], []
    for t in range(cfg.steps + 1):
        if t % cfg.chunk == 0:
            chunk = _draw_chunk(cfg, gens, min(cfg.chunk, cfg.steps + 1 - t))
            chunk = Draws(*(x.to(device)[:, seed_of_run] for x in (chunk.first, chunk.i, chunk.j, chunk.pair)))
        g = objective_grads(p, U, dense_batch(chunk.index(t % cfg.chunk), cfg.m_g, dtype), game)
        if t % cfg.eval_every == 0 or t == cfg.steps:
            m = latent_metrics(p.V, V0, p.W, U, cfg.angle_margin, cfg.moved_factor)
            m.update({"loss/D": -g.value, "loss/G": g.loss_g, "bias": p.b[:, 0]})
            eval_steps.append(t)
            records.append(m)
        if t == cfg.steps:
            break
        gen_player.step([g.V])                                   # G descends f
        dis_player.step([-g.W, -g.b] if cfg.train_bias else [-g.W])  # D ascends f
    metrics = {k: torch.stack([r[k] for r in records]).cpu().double() for k in records[0]}
    return Trajectory(d=d, steps=eval_steps, metrics=metrics, seeds=[seeds[k] for _, _, k in runs],
                      u_cos=[c for c, _, _ in runs], init_scale=[s for _, s, _ in runs])
