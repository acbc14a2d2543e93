"""The l2 natural-gradient solve delta = (J^T J + eps I)^-1 J^T g, by three routes.

primal: the P x P system (small P); dual: J^T (J J^T + eps I)^-1 g over the nk x nk Gram
(overparametrized models); cg: conjugate gradient on the primal system with only J v and J^T u
products (neither matrix fits). eps = 0 means the Moore-Penrose pseudo-inverse. The two identities
(J^T J + eps I)^-1 J^T = J^T (J J^T + eps I)^-1 make all three the same step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganopt.config import schema_section
from ganopt.errors import ConfigError
from ganopt.natgrad.jacobian import Jacobian

SOLVERS = ("auto", "primal", "dual", "cg")


@schema_section("natgrad.schema.yaml#/$defs/solver")
@dataclass(frozen=True)
class SolverConfig:
    """How the natural-gradient system is solved (config section `natgrad.solver`)."""

    solver: str  # auto | primal | dual | cg
    damping: float  # eps in (J^T J + eps I); 0 = pseudo-inverse
    step_cap: float | None  # trust region: max ||parameter step|| per update (None = off)
    primal_max: int  # auto: primal only when P <= this (and P <= nk)
    dual_max: int  # auto: dual only when nk <= this
    cg_max_iter: int  # cg: iteration limit
    cg_tol: float  # cg: stop at ||residual|| <= tol * ||J^T g||

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError(f"natgrad solver '{self.solver}' is not one of {', '.join(SOLVERS)}")
        if self.damping < 0:
            raise ConfigError(f"natgrad damping must be >= 0, got {self.damping}")
        if self.step_cap is not None and self.step_cap <= 0:
            raise ConfigError(f"natgrad step_cap must be > 0 or null, got {self.step_cap}")


@dataclass(frozen=True)
class SolveInfo:
    """What a solve did: the solver that ran and, for cg, its iterations and relative residual."""

    solver: str
    iterations: int = 0
    residual: float = 0.0


def choose_solver(n_params: int, n_out: int, cfg: SolverConfig) -> str:
    """The configured solver, or for `auto` the cheapest exact system that fits, else cg."""
    if cfg.solver != "auto":
        return cfg.solver
    if n_params <= min(n_out, cfg.primal_max):
        return "primal"
    if n_out <= cfg.dual_max:
        return "dual"
    return "primal" if n_params <= cfg.primal_max else "cg"


def _damped_solve(mat: torch.Tensor, rhs: torch.Tensor, eps: float) -> torch.Tensor:
    """(mat + eps I)^-1 rhs for symmetric PSD mat (batched); eps = 0 uses the pseudo-inverse."""
    if eps == 0:
        return (torch.linalg.pinv(mat, hermitian=True) @ rhs.unsqueeze(-1)).squeeze(-1)
    eye = torch.eye(mat.shape[-1], dtype=mat.dtype, device=mat.device)
    return torch.linalg.solve(mat + eps * eye, rhs)


def solve_primal(jac: Jacobian, g: torch.Tensor, eps: float) -> torch.Tensor:
    """(J^T J + eps I)^-1 J^T g with the P x P matrix formed."""
    J = jac.dense()
    return _damped_solve(J.transpose(-1, -2) @ J, jac.rmv(g), eps)


def solve_dual(jac: Jacobian, g: torch.Tensor, eps: float) -> torch.Tensor:
    """J^T (J J^T + eps I)^-1 g: one nk x nk solve, then one vector-Jacobian product."""
    return jac.rmv(_damped_solve(jac.gram(), g, eps))


def solve_cg(jac: Jacobian, g: torch.Tensor, eps: float, max_iter: int, tol: float) -> tuple[torch.Tensor, int, float]:
    """CG on (J^T J + eps I) d = J^T g from d = 0 (min-norm solution when eps = 0), batched over
    leading dims; returns (d, iterations, final relative residual)."""
    b = jac.rmv(g)
    d = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = (r * r).sum(-1)
    b_norm = rs.sqrt().clamp_min(torch.finfo(b.dtype).tiny)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        ap = jac.rmv(jac.mv(p)) + eps * p
        alpha = rs / (p * ap).sum(-1).clamp_min(torch.finfo(b.dtype).tiny)
        d = d + alpha.unsqueeze(-1) * p
        r = r - alpha.unsqueeze(-1) * ap
        rs_new = (r * r).sum(-1)
        if bool((rs_new.sqrt() <= tol * b_norm).all()):
            rs = rs_new
            break
        p = r + (rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny)).unsqueeze(-1) * p
        rs = rs_new
    return d, it, float((rs.sqrt() / b_norm).max())


def natural_direction(jac: Jacobian, g: torch.Tensor, cfg: SolverConfig) -> tuple[torch.Tensor, SolveInfo]:
    """The natural-gradient direction for output gradient g (shape (..., nk)), parameters flat."""
    solver = choose_solver(jac.n_params, jac.n_out, cfg)
    if solver == "primal":
        return solve_primal(jac, g, cfg.damping), SolveInfo("primal")
    if solver == "dual":
        return solve_dual(jac, g, cfg.damping), SolveInfo("dual")
    d, iters, res = solve_cg(jac, g, cfg.damping, cfg.cg_max_iter, cfg.cg_tol)
    return d, SolveInfo("cg", iters, res)


def cap_step(step: torch.Tensor, cap: float | None) -> torch.Tensor:
    """Scale each parameter step (last dim) down to norm <= cap (the trust region); None = no cap."""
    if cap is None:
        return step
    norm = step.norm(dim=-1, keepdim=True)
    return step * torch.clamp(cap / norm.clamp_min(torch.finfo(step.dtype).tiny), max=1.0)
