"""Natural gradient as a flow (issue 21): the simultaneous NG vector field of a batch of games,
integrated by Euler at a ladder of step sizes (the method at 2 lr, lr, lr/2, ..., the same flow time)
and by a reference integrator (classical RK4 at a smaller step, with its own error estimate from
RK4 at twice that step), so a rise of V can be told apart as the discretization's (it fades as the
step shrinks and the reference has none) or the flow's (the reference has it too).

The field is x' = (-J_F^+ dPsi/dF, +J_G^+ dPsi/dG) in parameter space, times min(1, speed / ||x'||)
per game (solvers.cap_step) with speed = solver.step_cap / lr: one bound on the joint parameter speed, a time change
that keeps the flow's path (V's monotonicity along a path does not depend on its timing), so every
member of the ladder and the reference integrate the same paths; at step h the bound caps a step at
h * speed, which at h = lr is exactly the method's trust region (ganopt.natgrad.games.play, ng).
The theorem's assumption is checked along the reference: the rank-th singular value of each
player's Jacobian stays at or above `sigma_floor` at every step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ganopt.natgrad.games import FlowConfig, OutputGrads, singular_value
from ganopt.natgrad.jacobian import DenseJacobian
from ganopt.natgrad.monotone import rises
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction

Player = Callable[[torch.Tensor], tuple[torch.Tensor, DenseJacobian]]   # params (B, P) -> outputs, J
Lyapunov = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]         # (F, G) outputs -> V (B,)
INTEGRATORS = ("euler", "rk4")


@dataclass
class FlowGame:
    """B independent games: each player's parameters -> outputs and Jacobian, the payoff's output
    gradients (F minimizes, G maximizes), V from the outputs, the start and each J's rank."""

    F: Player
    G: Player
    grads: OutputGrads
    lyapunov: Lyapunov
    theta0: torch.Tensor
    phi0: torch.Tensor
    rank_F: int
    rank_G: int


@dataclass
class Path:
    """One integration of B games: V at every step (steps + 1, B) and, when asked for, the smallest
    rank-th singular value of each player's Jacobian along it (B,)."""

    V: np.ndarray
    sigma_F: np.ndarray | None = None
    sigma_G: np.ndarray | None = None


def field(game: FlowGame, x: torch.Tensor, solver: SolverConfig, sigmas: bool = False
          ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """(x' unbounded (B, P_F + P_G), V (B,), rank-th singular values of J_F and J_G or None) at x."""
    n = game.theta0.shape[-1]
    (f_out, jac_f), (g_out, jac_g) = game.F(x[:, :n]), game.G(x[:, n:])
    grad_f, grad_g = game.grads(f_out, g_out)
    d_f, _ = natural_direction(jac_f, grad_f, solver)
    d_g, _ = natural_direction(jac_g, grad_g, solver)
    sig = (singular_value(jac_f, game.rank_F), singular_value(jac_g, game.rank_G)) if sigmas else None
    return torch.cat([-d_f, d_g], dim=-1), game.lyapunov(f_out, g_out), sig


def integrate(game: FlowGame, solver: SolverConfig, h: float, steps: int, speed: float | None,
              integrator: str = "euler", sigmas: bool = False) -> Path:
    """`steps` steps of size h of the speed-bounded NG field from the games' start; V at every step."""
    x = torch.cat([game.theta0, game.phi0], dim=-1).clone()

    def rate(y: torch.Tensor, record: bool = False):
        v, value, sig = field(game, y, solver, record)
        return cap_step(v, speed), value, sig

    vs, sig_f, sig_g = [], [], []
    for t in range(steps + 1):
        k1, value, sig = rate(x, sigmas)
        vs.append(value)
        if sig is not None:
            sig_f.append(sig[0])
            sig_g.append(sig[1])
        if t == steps:
            break
        if integrator == "euler":
            x = x + h * k1
        else:
            k2 = rate(x + h / 2 * k1)[0]
            k3 = rate(x + h / 2 * k2)[0]
            k4 = rate(x + h * k3)[0]
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    V = torch.stack(vs).cpu().numpy()
    if not sigmas:
        return Path(V)
    low = lambda s: torch.stack(s).nan_to_num(nan=0.0).amin(0).cpu().numpy()   # noqa: E731
    return Path(V, low(sig_f), low(sig_g))


def _run_rows(V: np.ndarray, integrator: str, h: float, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per game of one integration: rises of V, start and end, finite throughout."""
    return pd.DataFrame({**columns, "integrator": integrator, "step_size": h,
                         "rises": [rises(V[:, b]) for b in range(V.shape[1])], "V_start": V[0], "V_end": V[-1],
                         "finite": np.isfinite(V).all(0)})


def flow_runs(game: FlowGame, solver: SolverConfig, lr: float, steps: int, cfg: FlowConfig,
              columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The Euler ladder (lr 2^j for j = doublings, ..., -halvings) and the RK4 reference of every game
    (rows carry `columns`, e.g. the setting and init of each game, and the configured step `lr`):
    per (integrator, step size, game) the rises of V; reference rows also
    the smallest singular values, `inside` (the full-rank assumption held along the reference) and
    `ref_error` (max over time of |V_h - V_2h| / V(0) against RK4 at twice the step)."""
    speed = None if solver.step_cap is None else solver.step_cap / lr
    columns = {**columns, "lr": lr}
    frames = []
    for k in range(-cfg.doublings, cfg.halvings + 1):
        h = lr / 2**k
        frames.append(_run_rows(integrate(game, solver, h, round(steps * 2**k), speed).V, "euler", h, columns))
    h = lr / cfg.reference_refine
    ref = integrate(game, solver, h, steps * cfg.reference_refine, speed, "rk4", sigmas=True)
    coarse = integrate(game, solver, 2 * h, steps * cfg.reference_refine // 2, speed, "rk4").V
    fine = ref.V[::2][: len(coarse)]
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.nanmax(np.abs(fine - coarse), axis=0) / np.abs(ref.V[0])
    rows = _run_rows(ref.V, "rk4", h, columns).assign(
        sigma_F_min=ref.sigma_F, sigma_G_min=ref.sigma_G, ref_error=error,
        inside=(ref.sigma_F >= cfg.sigma_floor) & (ref.sigma_G >= cfg.sigma_floor) & np.isfinite(ref.V).all(0))
    return pd.concat(frames + [rows], ignore_index=True)
