"""The three natural-gradient solvers give the same step; the structured Gram and the batched
players' hand-written Jacobians equal torch.func's."""

import pytest
import torch
from torch import nn
from torch.func import jacrev

from ganopt.errors import ConfigError
from ganopt.natgrad.gram import sequential_gram, supports_structured_gram
from ganopt.natgrad.jacobian import DenseJacobian, ModelJacobian
from ganopt.natgrad.players import Ensemble
from ganopt.natgrad.solvers import SolverConfig, cap_step, choose_solver, natural_direction


def _direction(jac, g, solver, eps):
    cfg = SolverConfig(solver=solver, damping=eps, cg_max_iter=500, cg_tol=1e-13)
    return natural_direction(jac, g, cfg)


@pytest.mark.parametrize("n_out,n_params", [(5, 40), (40, 5), (8, 8)])
@pytest.mark.parametrize("eps", [1e-3, 1.0])
def test_solvers_agree_on_random_jacobians(n_out, n_params, eps):
    gen = torch.Generator().manual_seed(n_out * 100 + n_params)
    J = torch.randn(n_out, n_params, generator=gen, dtype=torch.float64)
    g = torch.randn(n_out, generator=gen, dtype=torch.float64)
    jac = DenseJacobian(J)
    primal, _ = _direction(jac, g, "primal", eps)
    dual, _ = _direction(jac, g, "dual", eps)
    cg, info = _direction(jac, g, "cg", eps)
    exact = torch.linalg.solve(J.T @ J + eps * torch.eye(n_params, dtype=J.dtype), J.T @ g)
    torch.testing.assert_close(primal, exact, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(dual, primal, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(cg, primal, rtol=1e-6, atol=1e-8)
    assert info.solver == "cg" and info.iterations > 0


def test_zero_damping_is_the_pseudo_inverse():
    gen = torch.Generator().manual_seed(1)
    J = torch.randn(3, 2, generator=gen, dtype=torch.float64) @ torch.randn(2, 10, generator=gen, dtype=torch.float64)
    g = torch.randn(3, generator=gen, dtype=torch.float64)
    expected = torch.linalg.pinv(J) @ g
    for solver in ("primal", "dual", "cg"):
        d, _ = _direction(DenseJacobian(J), g, solver, 0.0)
        torch.testing.assert_close(d, expected, rtol=1e-6, atol=1e-8)


def test_batched_dense_jacobian_matches_per_game_solves():
    gen = torch.Generator().manual_seed(2)
    J = torch.randn(4, 3, 20, generator=gen, dtype=torch.float64)
    g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    d, _ = _direction(DenseJacobian(J), g, "dual", 1e-2)
    for b in range(4):
        one, _ = _direction(DenseJacobian(J[b]), g[b], "primal", 1e-2)
        torch.testing.assert_close(d[b], one)


def test_auto_choice_by_size_is_reported():
    cfg = SolverConfig(primal_max=100, dual_max=50)
    assert choose_solver(10, 30, cfg) == "primal"
    assert choose_solver(1000, 30, cfg) == "dual"
    assert choose_solver(10**6, 10**4, cfg) == "cg"
    jac = DenseJacobian(torch.randn(3, 500, dtype=torch.float64))
    assert natural_direction(jac, torch.randn(3, dtype=torch.float64), SolverConfig())[1].solver == "dual"


def test_bad_solver_settings_are_config_errors():
    with pytest.raises(ConfigError, match="solver"):
        SolverConfig(solver="qr")
    with pytest.raises(ConfigError, match="damping"):
        SolverConfig(damping=-1.0)
    with pytest.raises(ConfigError, match="step_cap"):
        SolverConfig(step_cap=0.0)


def test_step_cap_limits_the_norm_only_when_above():
    step = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    capped = cap_step(step, 1.0)
    torch.testing.assert_close(capped.norm(dim=-1), torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(capped[0] / capped[0].norm(), step[0] / 5)
    assert cap_step(step, None) is step


def _mlp():
    return nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 6), nn.GELU(), nn.Linear(6, 4, bias=False)).double()


@pytest.mark.parametrize("head", [None, lambda y: torch.softmax(y, -1)])
def test_structured_gram_equals_dense_and_model_solvers_agree(head):
    torch.manual_seed(0)
    model, x = _mlp(), torch.randn(5, 3, dtype=torch.float64)
    jac = ModelJacobian(model, x, head=head)
    J = jac.dense()
    assert jac.structured and supports_structured_gram(model)
    torch.testing.assert_close(sequential_gram(model, x, head), J @ J.T)
    v, u = torch.randn(jac.n_params, dtype=torch.float64), torch.randn(jac.n_out, dtype=torch.float64)
    torch.testing.assert_close(jac.mv(v), J @ v)
    torch.testing.assert_close(jac.rmv(u), J.T @ u)
    steps = [_direction(jac, u, s, 1e-2)[0] for s in ("primal", "dual", "cg")]
    torch.testing.assert_close(steps[1], steps[0], rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(steps[2], steps[0], rtol=1e-5, atol=1e-7)


def test_non_mlp_falls_back_to_the_dense_gram():
    model = nn.Sequential(nn.Linear(2, 4), nn.LayerNorm(4), nn.Linear(4, 1)).double()
    jac = ModelJacobian(model, torch.randn(3, 2, dtype=torch.float64))
    assert not jac.structured
    J = jac.dense()
    torch.testing.assert_close(jac.gram(), J @ J.T)


@pytest.mark.parametrize("sizes,head,x", [([3, 8, 3], "softmax", [1.0, 1.0, 1.0]),
                                          ([2, 5, 4, 1], "sigmoid", [1.0, -1.0]),
                                          (None, "sigmoid", [1.0])])
def test_ensemble_jacobian_matches_torch_func(sizes, head, x):
    ens = Ensemble(sizes, torch.tensor(x), head, seeds=[0, 1], init_scale=2.0)
    out, jac = ens.forward(ens.theta0)
    module = ens.module().double()
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for p in module.parameters()]
    act = (lambda y: torch.softmax(y, -1)) if head == "softmax" else torch.sigmoid

    def single(theta):
        params = {n: t.view(s) for n, t, s in zip(names, theta.split([s.numel() for s in shapes]), shapes)}
        return act(torch.func.functional_call(module, params, (torch.tensor(x, dtype=torch.float64),))).reshape(-1)

    for b in range(2):
        torch.testing.assert_close(out[b], single(ens.theta0[b]))
        torch.testing.assert_close(jac.J[b], jacrev(single)(ens.theta0[b]))
