"""Two batched players in a payoff given by its output-space gradients, stepped by natural
gradient or plain GDA, simultaneously or alternating (the max player first, then the min player
sees its update); every step is recorded so V(t) can be checked for rises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ganopt.config import schema_section
from ganopt.errors import ConfigError
from ganopt.natgrad.jacobian import DenseJacobian, Jacobian
from ganopt.natgrad.players import Ensemble
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction

# method -> (direction, scheme)
METHODS: dict[str, tuple[str, str]] = {
    "ng": ("ng", "simultaneous"),
    "ng_alt": ("ng", "alternating"),
    "gda": ("gda", "simultaneous"),
    "gda_alt": ("gda", "alternating"),
}
# (F outputs, G outputs) -> (dPsi/dF, dPsi/dG), each (B, nk)
OutputGrads = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Trajectory:
    """Per recorded step: outputs of both players and the rank-th singular value of each J."""

    steps: list[int] = field(default_factory=list)
    F: list[torch.Tensor] = field(default_factory=list)
    G: list[torch.Tensor] = field(default_factory=list)
    sigma_F: list[torch.Tensor] = field(default_factory=list)
    sigma_G: list[torch.Tensor] = field(default_factory=list)
    solver: str = ""


def singular_values(jac: Jacobian) -> torch.Tensor:
    """Singular values of each J in the batch, descending, from the eigenvalues of its Gram."""
    return torch.linalg.eigvalsh(jac.gram()).flip(-1).clamp_min(0).sqrt()


def singular_value(jac: Jacobian, rank: int) -> torch.Tensor:
    """The rank-th largest singular value of each J (its smallest nonzero one when J has that rank)."""
    return singular_values(jac)[..., rank - 1]


def numerical_rank(sv: torch.Tensor, rtol: float = 1e-4) -> int:
    """How many singular values exceed rtol times the largest (one unbatched J)."""
    return int((sv > rtol * sv[0]).sum())


def _direction(kind: str, jac: DenseJacobian, g: torch.Tensor, cfg: SolverConfig) -> tuple[torch.Tensor, str]:
    if kind == "gda":
        return jac.rmv(g), "none"
    d, info = natural_direction(jac, g, cfg)
    return d, info.solver


def joint_step(d_f: torch.Tensor, d_g: torch.Tensor, lr: float, cap: float | None) -> torch.Tensor:
    """lr (-d_f, +d_g) with the joint parameter step of each game capped at `cap`: one trust region
    for both players, a time change that keeps the flow's path (per-player caps bend it)."""
    return lr * cap_step(torch.cat([-d_f, d_g], dim=-1), None if cap is None else cap / lr)


def play(F: Ensemble, G: Ensemble, grads: OutputGrads, method: str, lr: float, steps: int,
         solver: SolverConfig, rank_F: int, rank_G: int) -> Trajectory:
    """Run `steps` updates from each ensemble's initial parameters; F minimizes, G maximizes.

    NG steps are capped by solver.step_cap: simultaneous NG jointly (joint_step, the Euler step of
    ganopt.natgrad.flow), alternating NG per player (its two half steps are separate); GDA steps
    are not capped."""
    if method not in METHODS:
        raise ConfigError(f"natgrad method '{method}' is not one of {', '.join(METHODS)}")
    kind, scheme = METHODS[method]
    cap = solver.step_cap if kind == "ng" else None
    theta, phi = F.theta0.clone(), G.theta0.clone()
    traj = Trajectory()
    for t in range(steps + 1):
        (f_out, jac_f), (g_out, jac_g) = F.forward(theta), G.forward(phi)
        traj.steps.append(t)
        traj.F.append(f_out)
        traj.G.append(g_out)
        traj.sigma_F.append(singular_value(jac_f, rank_F))
        traj.sigma_G.append(singular_value(jac_g, rank_G))
        if t == steps:
            break
        grad_f, grad_g = grads(f_out, g_out)
        d_g, traj.solver = _direction(kind, jac_g, grad_g, solver)
        if kind == "ng" and scheme == "simultaneous":
            step = joint_step(_direction(kind, jac_f, grad_f, solver)[0], d_g, lr, cap)
            theta, phi = theta + step[:, :theta.shape[-1]], phi + step[:, theta.shape[-1]:]
            continue
        new_phi = phi + cap_step(lr * d_g, cap)
        if scheme == "alternating":
            grad_f, _ = grads(f_out, G.forward(new_phi)[0])
        d_f, _ = _direction(kind, jac_f, grad_f, solver)
        theta, phi = theta - cap_step(lr * d_f, cap), new_phi
    return traj


@schema_section("natgrad.schema.yaml#/$defs/flow")
@dataclass(frozen=True)
class FlowConfig:
    """The flow check of one experiment (natgrad.<experiment>.flow; ganopt.natgrad.flow)."""

    doublings: int         # Euler also at lr 2^k, k = 1..doublings (steps / 2^k: the same flow time)
    halvings: int          # Euler at lr / 2^k, k = 0..halvings, steps * 2^k
    reference_refine: int  # RK4 at lr / reference_refine
    sigma_floor: float     # the full-rank assumption: sigma_rank(J) >= this along the reference


@dataclass(frozen=True)
class GameConfig:
    """What the regularized-game experiments (warm-up, RPS) share: methods and their step sizes,
    initializations, the players' MLP, steps, recording, the solver and the flow check."""

    methods: tuple[str, ...]
    lr: dict[str, float]
    inits: int
    seed: int
    hidden: tuple[int, ...]
    init_scale: float
    steps: int
    record_every: int
    converged_below: float
    solver: SolverConfig
    flow: FlowConfig
    device: str

    def __post_init__(self) -> None:
        check_methods(self.methods, self.lr, tuple(METHODS))


def check_methods(methods: tuple[str, ...], lr: dict[str, float], allowed: tuple[str, ...]) -> None:
    """Every configured method is known here and has a step size."""
    for method in methods:
        if method not in allowed:
            raise ConfigError(f"natgrad method '{method}' is not one of {', '.join(allowed)}")
        if method not in lr:
            raise ConfigError(f"natgrad method '{method}' has no step size in lr (got {', '.join(lr)})")
