"""Warm-up (seed talk): matching pennies with nonlinear players f(theta), g(phi) in [0, 1],
Psi = (1 - 2f)(1 - 2g) + mu/2 (f - 1/2)^2 - mu/2 (g - 1/2)^2 (f minimizes, g maximizes).
mu > 0 makes the game strictly convex-concave (V -> 0 under the flow); with mu = 0 the continuous
flow conserves V (study.md P.1). Natural gradient vs GDA, V = 1/2 (f - 1/2)^2 + 1/2 (g - 1/2)^2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganopt.config import DEVICE, schema_section
from ganopt.errors import ConfigError
from ganopt.natgrad.flow import FlowGame, flow_runs
from ganopt.natgrad.games import GameConfig, play
from ganopt.natgrad.players import Ensemble
from ganopt.natgrad.record import log_curves, lyapunov, plot_v, summarize, trajectory_frame, write_flow, write_method
from ganopt.runtime import select_device

PLAYERS = ("cubic", "mlp")  # sigmoid(theta^3 + theta) | sigmoid(tanh-MLP(c)), c = (1, -1)


@schema_section("natgrad.schema.yaml#/$defs/warmup", device=DEVICE)
@dataclass(frozen=True)
class WarmupConfig(GameConfig):
    """Config of the warm-up experiment (natgrad.warmup plus the shared solver section)."""

    players: tuple[str, ...]
    mus: tuple[float, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.players:
            if name not in PLAYERS:
                raise ConfigError(f"warm-up player '{name}' is not one of {', '.join(PLAYERS)}")


def output_grads(mu: torch.Tensor):
    """(f, g) -> (dPsi/df, dPsi/dg) for a batch of games with regularization mu (B,)."""
    def grads(f: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = mu.unsqueeze(-1)
        return -2 * (1 - 2 * g) + m * (f - 0.5), -2 * (1 - 2 * f) - m * (g - 0.5)
    return grads


def _players(cfg: WarmupConfig, name: str, mus: list[float]) -> tuple[Ensemble, Ensemble, torch.Tensor, np.ndarray]:
    """Both ensembles of one parametrization (one game per mu x init, inits shared across mus), mu
    per game and each game's init index."""
    device = select_device(cfg.device)
    seeds = [cfg.seed * 1000 + i for i in range(cfg.inits)] * len(mus)
    mu = torch.tensor(mus, dtype=torch.float64, device=device).repeat_interleave(cfg.inits)
    sizes = None if name == "cubic" else [2, *cfg.hidden, 1]
    x = torch.ones(1, device=device) if name == "cubic" else torch.tensor([1.0, -1.0], device=device)
    scale = 1.0 if name == "cubic" else cfg.init_scale
    F = Ensemble(sizes, x, "sigmoid", seeds, scale)
    G = Ensemble(sizes, x, "sigmoid", [s + 500 for s in seeds], scale)
    return F, G, mu, np.arange(len(seeds)) % cfg.inits


def _lyapunov(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return lyapunov(f, torch.full_like(f, 0.5), g, torch.full_like(g, 0.5))


def run_method(cfg: WarmupConfig, method: str) -> pd.DataFrame:
    """One method over players x mu x inits; rows every record_every steps."""
    frames = []
    for name in cfg.players:
        F, G, mu, inits = _players(cfg, name, list(cfg.mus))
        traj = play(F, G, output_grads(mu), method, cfg.lr[method], cfg.steps, cfg.solver, rank_F=1, rank_G=1)
        V = _lyapunov(torch.stack(traj.F), torch.stack(traj.G)).cpu().numpy()
        settings = {"player": np.array([name] * V.shape[1]), "mu": mu.cpu().numpy(), "init": inits}
        frames.append(trajectory_frame(method, traj, V, settings, cfg.record_every))
    return pd.concat(frames, ignore_index=True)


def run_flow(cfg: WarmupConfig) -> pd.DataFrame:
    """The flow check of ng (ganopt.natgrad.flow) per player on every mu > 0 (empty when none)."""
    mus = [m for m in cfg.mus if m > 0]
    frames = []
    for name in cfg.players if mus and "ng" in cfg.methods else ():
        F, G, mu, inits = _players(cfg, name, mus)
        game = FlowGame(F.forward, G.forward, output_grads(mu), _lyapunov, F.theta0, G.theta0, rank_F=1, rank_G=1)
        columns = {"setting": [f"player={name} mu={m:g}" for m in mu.tolist()], "init": inits}
        frames.append(flow_runs(game, cfg.solver, cfg.lr["ng"], cfg.steps, cfg.flow, columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_warmup(cfg: WarmupConfig, out: Path, tracker) -> dict:
    """Every method: CSV per method, V(t) figures per player, MLflow curves, the flow check
    (flow.csv); returns the summary."""
    frames = {}
    for method in cfg.methods:
        frames[method] = run_method(cfg, method)
        write_method(out, method, frames[method])
        for name in cfg.players:
            log_curves(tracker, frames[method][frames[method]["player"] == name], f"{method}/{name}", "mu")
    for name in cfg.players:
        plot_v({m: f[f["player"] == name] for m, f in frames.items()}, "mu", out / f"V_{name}.png",
               f"Matching pennies, {name} players: V(t)")
    write_flow(out, run_flow(cfg))
    return {m: summarize(f, ["player", "mu"], cfg.converged_below) for m, f in frames.items()}
