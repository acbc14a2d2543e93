"""Rock-Paper-Scissors with neural softmax players (study.md B.2):
Psi = F^T M G + lambda/2 (||F - 1/3||^2 - ||G - 1/3||^2), F minimizes, G maximizes; natural
gradient vs GDA (simultaneous, alternating) over lambda x initializations, V(t) to the uniform
equilibrium, simplex trajectories and the smallest nonzero singular value of J (rank 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganopt.config import DEVICE, schema_section
from ganopt.natgrad.flow import FlowGame, flow_runs
from ganopt.natgrad.games import GameConfig, play
from ganopt.natgrad.players import Ensemble
from ganopt.natgrad.record import log_curves, lyapunov, plot_v, summarize, trajectory_frame, write_flow, write_method
from ganopt.runtime import select_device

# The talk's payoff matrix (rows: F's action; F pays F^T M G).
M = torch.tensor([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])


@schema_section("natgrad.schema.yaml#/$defs/rps", device=DEVICE)
@dataclass(frozen=True)
class RPSConfig(GameConfig):
    """Config of the RPS experiment (natgrad.rps plus the shared solver section)."""

    lambdas: tuple[float, ...]


def output_grads(lam: torch.Tensor, m: torch.Tensor):
    """(F, G) -> (dPsi/dF, dPsi/dG) for a batch of games with regularization lam (B,)."""
    def grads(F: torch.Tensor, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        l = lam.unsqueeze(-1)
        return G @ m.T + l * (F - 1 / 3), F @ m - l * (G - 1 / 3)
    return grads


def players(cfg: RPSConfig, lambdas: list[float], device: torch.device) -> tuple[Ensemble, Ensemble, torch.Tensor]:
    """Both ensembles (one game per lambda x init, inits shared across lambdas) and lambda per game."""
    sizes = [3, *cfg.hidden, 3]
    seeds = [cfg.seed * 1000 + i for i in range(cfg.inits)] * len(lambdas)
    c = torch.ones(3, device=device)
    F = Ensemble(sizes, c, "softmax", seeds, cfg.init_scale)
    G = Ensemble(sizes, c, "softmax", [s + 500 for s in seeds], cfg.init_scale)
    lam = torch.tensor(lambdas, dtype=torch.float64, device=device).repeat_interleave(cfg.inits)
    return F, G, lam


def _lyapunov(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return lyapunov(f, torch.full_like(f, 1 / 3), g, torch.full_like(g, 1 / 3))


def run_method(cfg: RPSConfig, method: str) -> pd.DataFrame:
    """One method over the whole lambda x init grid; rows every record_every steps."""
    device = select_device(cfg.device)
    F, G, lam = players(cfg, list(cfg.lambdas), device)
    traj = play(F, G, output_grads(lam, M.to(torch.float64).to(device)), method, cfg.lr[method],
                cfg.steps, cfg.solver, rank_F=2, rank_G=2)
    V = _lyapunov(torch.stack(traj.F), torch.stack(traj.G)).cpu().numpy()   # (T+1, B)
    settings = {"lam": lam.cpu().numpy(), "init": np.arange(V.shape[1]) % cfg.inits}
    return trajectory_frame(method, traj, V, settings, cfg.record_every)


def run_flow(cfg: RPSConfig) -> pd.DataFrame:
    """The flow check of ng (ganopt.natgrad.flow) on every lambda > 0 (empty when none)."""
    lambdas = [v for v in cfg.lambdas if v > 0]
    if not lambdas or "ng" not in cfg.methods:
        return pd.DataFrame()
    device = select_device(cfg.device)
    F, G, lam = players(cfg, lambdas, device)
    game = FlowGame(F.forward, G.forward, output_grads(lam, M.to(torch.float64).to(device)), _lyapunov,
                    F.theta0, G.theta0, rank_F=2, rank_G=2)
    columns = {"setting": [f"lam={v:g}" for v in lam.tolist()], "init": np.arange(len(lam)) % cfg.inits}
    return flow_runs(game, cfg.solver, cfg.lr["ng"], cfg.steps, cfg.flow, columns)


def plot_simplex(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """Ternary plots of F's trajectories: rows = methods, columns = lambda; dot = start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    lams = sorted(next(iter(frames.values()))["lam"].unique())
    fig, axes = plt.subplots(len(frames), len(lams), figsize=(3 * len(lams), 2.8 * len(frames)), squeeze=False)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    for r, (method, frame) in enumerate(frames.items()):
        for c, lam in enumerate(lams):
            ax = axes[r][c]
            ax.plot(*np.vstack([corners, corners[:1]]).T, color="grey", lw=0.8)
            for init, run in frame[frame["lam"] == lam].groupby("init"):
                xy = run[["F0", "F1", "F2"]].to_numpy() @ corners
                ax.plot(xy[:, 0], xy[:, 1], lw=0.8, color=f"C{init}")
                ax.plot(xy[0, 0], xy[0, 1], "o", ms=3, color=f"C{init}")
            ax.plot(0.5, np.sqrt(3) / 6, "k+")
            ax.set_title(f"{method}, lambda = {lam:g}", fontsize=9)
            ax.set_aspect("equal")
            ax.axis("off")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plot_sigma(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """sigma_2(J_F) (the smallest nonzero singular value) along each run, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    lams = sorted(next(iter(frames.values()))["lam"].unique())
    fig, axes = plt.subplots(1, len(lams), figsize=(4 * len(lams), 3.2), squeeze=False, sharey=True)
    for ax, lam in zip(axes[0], lams):
        for i, (method, frame) in enumerate(frames.items()):
            for j, (_, run) in enumerate(frame[frame["lam"] == lam].groupby("init")):
                ax.semilogy(run["step"], run["sigma_F"].clip(lower=1e-18), color=f"C{i}", lw=0.8,
                            label=method if j == 0 else None)
        ax.set_title(f"lambda = {lam:g}")
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("sigma_2(J_F)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def run_rps(cfg: RPSConfig, out: Path, tracker) -> dict:
    """Every method: CSV per method, figures, MLflow curves, the flow check (flow.csv); returns the summary."""
    frames = {}
    for method in cfg.methods:
        frames[method] = run_method(cfg, method)
        write_method(out, method, frames[method])
        log_curves(tracker, frames[method], method, "lam")
        print(f"rps {method}: done", flush=True)
    plot_v(frames, "lam", out / "V.png", "RPS: V(t) to the uniform equilibrium")
    plot_simplex(frames, out / "simplex.png")
    plot_sigma(frames, out / "sigma.png")
    write_flow(out, run_flow(cfg))
    return {m: summarize(f, ["lam"], cfg.converged_below) for m, f in frames.items()}
