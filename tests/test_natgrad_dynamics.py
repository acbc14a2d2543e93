"""Natural-gradient dynamics: with a softmax player and the exact pseudo-inverse the RPS outputs
follow the projected output-space flow (study.md B.2), and V decreases monotonically along
small-step NG runs on strictly convex-concave games."""

import numpy as np
import pytest
import torch

from ganopt.natgrad.games import play
from ganopt.natgrad.monotone import rises
from ganopt.natgrad.players import Ensemble
from ganopt.natgrad.record import lyapunov
from ganopt.natgrad.rps import M
from ganopt.natgrad.rps import output_grads as rps_grads
from ganopt.natgrad.solvers import SolverConfig
from ganopt.natgrad.warmup import output_grads as warmup_grads

EXACT = SolverConfig(solver="dual", damping=0.0, step_cap=None)


def _output_flow(F, G, lam, dt, steps):
    """RK4 of F' = -Pi(M G + lam (F - 1/3)), G' = +Pi(M^T F - lam (G - 1/3)), Pi = I - 11^T/3."""
    m = M.double()
    proj = torch.eye(3, dtype=torch.float64) - 1 / 3

    def field(F, G):
        return -(m @ G + lam * (F - 1 / 3)) @ proj, (m.T @ F - lam * (G - 1 / 3)) @ proj

    for _ in range(steps):
        k1 = field(F, G)
        k2 = field(F + dt / 2 * k1[0], G + dt / 2 * k1[1])
        k3 = field(F + dt / 2 * k2[0], G + dt / 2 * k2[1])
        k4 = field(F + dt * k3[0], G + dt * k3[1])
        F = F + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        G = G + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return F, G


def test_softmax_player_with_pseudo_inverse_follows_the_output_space_flow():
    lam, eta, steps = 0.5, 2e-3, 500
    F = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[0], init_scale=2.0)
    G = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[1], init_scale=2.0)
    traj = play(F, G, rps_grads(torch.tensor([lam], dtype=torch.float64), M.double()), "ng", eta, steps,
                EXACT, rank_F=2, rank_G=2)
    F_flow, G_flow = _output_flow(traj.F[0][0], traj.G[0][0], lam, eta, steps)
    moved = (traj.F[-1][0] - traj.F[0][0]).norm()
    assert moved > 0.05  # the comparison is not trivial
    torch.testing.assert_close(traj.F[-1][0], F_flow, atol=5e-3 * float(moved), rtol=0)
    torch.testing.assert_close(traj.G[-1][0], G_flow, atol=5e-3 * float(moved), rtol=0)
    # the Jacobian of a softmax player has rank exactly 2
    assert float(traj.sigma_F[-1][0]) > 1e-3


def test_rps_ng_small_steps_decrease_v_monotonically():
    F = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[0, 1, 2], init_scale=3.0)
    G = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[5, 6, 7], init_scale=3.0)
    lam = torch.full((3,), 1.0, dtype=torch.float64)
    traj = play(F, G, rps_grads(lam, M.double()), "ng", 0.02, 300, SolverConfig(damping=1e-3, step_cap=0.2),
                rank_F=2, rank_G=2)
    Fs, Gs = torch.stack(traj.F), torch.stack(traj.G)
    V = lyapunov(Fs, torch.full_like(Fs, 1 / 3), Gs, torch.full_like(Gs, 1 / 3)).numpy()
    assert all(rises(V[:, b]) == 0 for b in range(3))
    assert (V[-1] < 0.1 * V[0]).all()


def test_rps_gda_is_not_monotone_where_ng_is():
    """Same games, plain simultaneous GDA at lambda = 0.1: V rises (the comparison has teeth)."""
    F = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[0], init_scale=3.0)
    G = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[5], init_scale=3.0)
    traj = play(F, G, rps_grads(torch.tensor([0.1], dtype=torch.float64), M.double()), "gda", 0.5, 300,
                SolverConfig(), rank_F=2, rank_G=2)
    Fs, Gs = torch.stack(traj.F), torch.stack(traj.G)
    V = lyapunov(Fs, torch.full_like(Fs, 1 / 3), Gs, torch.full_like(Gs, 1 / 3)).numpy()
    assert rises(V[:, 0]) > 0


def test_warmup_ng_small_steps_decrease_v_monotonically_and_mu0_conserves_it():
    x = torch.tensor([1.0, -1.0])
    F = Ensemble([2, 8, 1], x, "sigmoid", seeds=[0, 1], init_scale=2.0)
    G = Ensemble([2, 8, 1], x, "sigmoid", seeds=[2, 3], init_scale=2.0)
    mu = torch.tensor([0.5, 0.0], dtype=torch.float64)
    traj = play(F, G, warmup_grads(mu), "ng", 0.002, 400, SolverConfig(damping=0.0, step_cap=None), 1, 1)
    Fs, Gs = torch.stack(traj.F), torch.stack(traj.G)
    V = lyapunov(Fs, torch.full_like(Fs, 0.5), Gs, torch.full_like(Gs, 0.5)).numpy()
    assert rises(V[:, 0]) == 0 and V[-1, 0] < 0.5 * V[0, 0]
    # mu = 0: the flow conserves V; small Euler steps only drift it slowly (upwards)
    assert np.isclose(V[-1, 1], V[0, 1], rtol=0.05)


def _game(kind: str, reg: float, seeds=(0, 1, 2)):
    """A batch of regularized games with their FlowGame (ganopt.natgrad.flow)."""
    from ganopt.natgrad.flow import FlowGame

    if kind == "rps":
        F = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=list(seeds), init_scale=2.0)
        G = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[s + 5 for s in seeds], init_scale=2.0)
        grads, star, rank = rps_grads(torch.full((len(seeds),), reg, dtype=torch.float64), M.double()), 1 / 3, 2
    else:
        x = torch.tensor([1.0, -1.0])
        F = Ensemble([2, 8, 1], x, "sigmoid", seeds=list(seeds), init_scale=2.0)
        G = Ensemble([2, 8, 1], x, "sigmoid", seeds=[s + 5 for s in seeds], init_scale=2.0)
        grads, star, rank = warmup_grads(torch.full((len(seeds),), reg, dtype=torch.float64)), 0.5, 1
    V = lambda f, g: lyapunov(f, torch.full_like(f, star), g, torch.full_like(g, star))   # noqa: E731
    return FlowGame(F.forward, G.forward, grads, V, F.theta0, G.theta0, rank, rank)


@pytest.mark.parametrize("kind, reg", [("rps", 1.0), ("warmup", 0.5)])
def test_v_decreases_along_the_rk4_reference_where_the_theory_guarantees_it(kind, reg):
    """Strictly convex-concave game, exact pseudo-inverse, Jacobians of full rank along the way: V
    never rises along the RK4 flow and falls by orders of magnitude; with no regularization the flow
    conserves V, which RK4 keeps to 1e-3 while Euler at the same step drifts 100x more (the check has teeth)."""
    from ganopt.natgrad.flow import integrate

    path = integrate(_game(kind, reg), EXACT, 0.05, 200, None, "rk4", sigmas=True)
    assert all(rises(path.V[:, b]) == 0 for b in range(3))
    assert (path.V[-1] < 1e-3 * path.V[0]).all()
    assert (path.sigma_F > 1e-3).all() and (path.sigma_G > 1e-3).all()
    flat = _game(kind, 0.0)
    rk4 = integrate(flat, EXACT, 0.05, 100, None, "rk4", sigmas=True)
    euler = integrate(flat, EXACT, 0.05, 100, None, "euler").V
    kept = (rk4.sigma_F > 1e-3) & (rk4.sigma_G > 1e-3)      # games whose circle stays inside the simplex
    assert kept.any()
    drift = np.abs(rk4.V[-1] / rk4.V[0] - 1)[kept]
    assert drift.max() < 1e-3 and ((euler[-1] / euler[0] - 1)[kept] > 100 * drift).all()


def test_flow_runs_give_the_ladder_and_the_reference_with_the_same_flow_time():
    """Euler at 2 lr, lr, lr/2, lr/4 and RK4 at lr, one row per game each; the simultaneous NG method
    of play is the ladder's step at lr (same trust region, same numbers)."""
    from ganopt.natgrad.flow import flow_runs, integrate
    from ganopt.natgrad.games import FlowConfig

    game = _game("rps", 0.1)
    solver = SolverConfig(damping=0.0, step_cap=0.05)
    runs = flow_runs(game, solver, 0.1, 20, FlowConfig(doublings=1, halvings=2, reference_refine=1, sigma_floor=1e-6),
                     {"setting": "lam=0.1", "init": np.arange(3)})
    euler = runs[runs["integrator"] == "euler"]
    assert sorted(set(euler["step_size"])) == [0.025, 0.05, 0.1, 0.2] and len(runs) == 5 * 3
    assert (runs["lr"] == 0.1).all() and runs.loc[runs["integrator"] == "rk4", "inside"].all()
    F = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[0, 1, 2], init_scale=2.0)
    G = Ensemble([3, 16, 3], torch.ones(3), "softmax", seeds=[5, 6, 7], init_scale=2.0)
    traj = play(F, G, game.grads, "ng", 0.1, 20, solver, rank_F=2, rank_G=2)
    V = game.lyapunov(torch.stack(traj.F), torch.stack(traj.G)).numpy()
    np.testing.assert_allclose(V, integrate(game, solver, 0.1, 20, solver.step_cap / 0.1).V, rtol=1e-12)
