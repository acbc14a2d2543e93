"""Two batched players in a payoff given by its output-space gradients, stepped by natural
gradient or plain GDA, simultaneously or alternating (the max player first, then the min player
sees its update); every step is recorded so V(t) can be checked for rises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

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


def play(F: Ensemble, G: Ensemble, grads: OutputGrads, method: str, lr: float, steps: int,
         solver: SolverConfig, rank_F: int, rank_G: int) -> Trajectory:
    """Run `steps` updates from each ensemble's initial parameters; F minimizes, G maximizes.

    NG steps are capped by solver.step_cap (trust region per game); GDA steps are not."""
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
        new_phi = phi + cap_step(lr * d_g, cap)
        if scheme == "alternating":
            grad_f, _ = grads(f_out, G.forward(new_phi)[0])
        d_f, _ = _direction(kind, jac_f, grad_f, solver)
        theta, phi = theta - cap_step(lr * d_f, cap), new_phi
    return traj


@dataclass(frozen=True)
class GameConfig:
    """What the regularized-game experiments (warm-up, RPS) share: methods and their step sizes,
    initializations, the players' MLP, steps, recording and the solver."""

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
