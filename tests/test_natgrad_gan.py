"""The finite-support GAN (ganopt.natgrad.gan): its payoff is ganopt.gan.losses' GAN objective, its
players are ganopt.gan.nets MLPs run for every seed at once (structured Jacobians equal torch.func's),
NG decreasing V where GDA does not, the registry baselines per seed, and the seed statistics of its
claims (ganopt.report.natgrad_claims)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.func import functional_call, jacrev

from ganopt.gan import losses
from ganopt.natgrad.gan import FiniteGan, GanConfig, Stepper, data_weights, gan_flow, payoff, run_method
from ganopt.natgrad.monotone import rises
from ganopt.report.natgrad_claims import _inside, _log_ratios

TINY = {"net": {"z_dim": 2, "width": 16, "depth": 1}, "steps": 60, "record_every": 10, "seeds": (0, 1, 2)}
CPU = torch.device("cpu")


def tiny(**kw) -> GanConfig:
    from ganopt.config import from_dict

    return from_dict(GanConfig, {**TINY, **kw})


def test_payoff_is_the_gan_objective_of_ganopt_losses():
    """With p = p_data = uniform and mu = 0, Psi = -d_logistic(u, u) (D's loss on the same logits);
    -Psi's gradient in p is minus log(1 - D), and prob outputs give the same value as logits; with
    leading dims, one value per seed."""
    k = 5
    u = torch.tensor([-1.5, -0.2, 0.0, 0.7, 2.0], dtype=torch.float64)
    uniform = torch.full((k,), 1 / k, dtype=torch.float64)
    psi = payoff(uniform, u, uniform, 0.0, "logit")
    torch.testing.assert_close(psi, -losses.d_logistic(u, u))
    assert float(payoff(uniform, torch.sigmoid(u), uniform, 0.0, "prob")) == pytest.approx(float(psi))
    p = torch.tensor([0.1, 0.2, 0.3, 0.25, 0.15], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(payoff(p, u, uniform, 0.0, "logit"), p)
    torch.testing.assert_close(grad, torch.log1p(-torch.sigmoid(u)))
    # the regularizer vanishes (with its gradient) at p = p_data: the equilibrium does not move
    p_data = data_weights(k, 1.0)
    pd_ = p_data.clone().requires_grad_()
    (g_mu,) = torch.autograd.grad(payoff(pd_, u, p_data, 3.0, "logit"), pd_)
    (g_0,) = torch.autograd.grad(payoff(pd_, u, p_data, 0.0, "logit"), pd_)
    torch.testing.assert_close(g_mu, g_0)
    batched = payoff(torch.stack([uniform, p.detach()]), torch.stack([u, -u]), uniform, 0.5, "logit")
    assert batched.shape == (2,) and float(batched[0]) == pytest.approx(float(payoff(uniform, u, uniform, 0.5, "logit")))


def _flat_call(body, flat, x):
    shapes = [(n, p.shape) for n, p in body.named_parameters()]
    parts = flat.split([int(np.prod(s)) for _, s in shapes])
    return functional_call(body, {n: t.view(s) for (n, s), t in zip(shapes, parts)}, (x,))


@pytest.mark.parametrize("d_output", ["logit", "prob"])
def test_batched_players_are_ganopt_nets_with_exact_structured_jacobians(d_output):
    """Each seed's row is the ganopt.gan.nets module it was built as; outputs, J, J v, J^T u and J J^T
    equal torch.func's on that module; the equilibrium is stationary."""
    cfg = tiny(d_output=d_output, seeds=(3, 4))
    game = FiniteGan(cfg, cfg.seeds, CPU)
    (p, jf), (d, jd) = game.gen(game.theta0), game.dis(game.phi0)
    assert p.shape == d.shape == (2, 8) and torch.allclose(p.sum(-1), torch.ones(2, dtype=torch.float64))
    head = torch.sigmoid if d_output == "prob" else (lambda u: u)
    gen = lambda th: torch.softmax(_flat_call(game.G, th, game.c[1]), -1).reshape(-1)   # noqa: E731
    dis = lambda ph: head(_flat_call(game.D, ph, game.x)).reshape(-1)                    # noqa: E731
    gen_u = torch.randn(2, 8, dtype=torch.float64)
    for f, x, out, jac in ((gen, game.theta0, p, jf), (dis, game.phi0, d, jd)):
        J = jacrev(f)(x[1])
        v = torch.randn_like(x)
        torch.testing.assert_close(f(x[1]), out[1])
        torch.testing.assert_close(jac.dense()[1], J)
        torch.testing.assert_close(jac.gram()[1], J @ J.T)
        torch.testing.assert_close(jac.rmv(gen_u)[1], gen_u[1] @ J)
        torch.testing.assert_close(jac.mv(v)[1], J @ v[1])
    grad_p, grad_u = game.output_grads(game.p_data.expand(2, 8), torch.zeros(2, 8, dtype=torch.float64))
    assert float(grad_p.abs().max()) < 1e-12 and (d_output == "prob" or float(grad_u.abs().max()) < 1e-12)


def test_natural_gradient_decreases_v_monotonically_and_gda_does_not():
    """From the same inits, NG's V never rises and falls by orders of magnitude; GDA's rises."""
    cfg = tiny(steps=150, lr={"ng": 1.0, "gda": 1.0, "adam": 0.01})
    ng = run_method(cfg, "ng").groupby("init")
    gda = run_method(cfg, "gda").groupby("init")
    assert (ng["rises"].first() == 0).all()
    assert (ng["V"].last() < 1e-4 * ng["V"].first()).all()
    assert (gda["V"].first() == ng["V"].first()).all()                # same initialization
    assert (gda["rises"].first() > 0).any()


def test_baselines_step_each_seed_as_the_registry_optimizer_with_config_hparams():
    """Adam over the batched seeds moves seed 1 exactly as the registry's torch Adam on its own
    module from the same start, with the config's betas."""
    from ganopt.optim import build_optimizer

    cfg = tiny(hparams={"adam": {"betas": [0.0, 0.9]}}, seeds=(0, 1))
    game = FiniteGan(cfg, cfg.seeds, CPU)
    stepper = Stepper(game, cfg, "adam")
    assert stepper.opt_g.group["betas"] == (0.0, 0.9) and stepper.opt_g.group["lr"] == cfg.lr["adam"]
    theta = game.theta0[1].clone().requires_grad_()
    ref = build_optimizer("adam", [("theta", theta)], cfg.lr["adam"], betas=(0.0, 0.9))
    for _ in range(3):
        (p, jf), (d, jd) = game.gen(stepper.theta), game.dis(stepper.phi)
        gen = torch.softmax(_flat_call(game.G, theta, game.c[1]), -1).reshape(-1)
        dis = _flat_call(game.D, stepper.phi[1], game.x).reshape(-1)
        ref.zero_grad()
        payoff(gen, dis.detach(), game.p_data, cfg.mu, cfg.d_output).backward()
        ref.step()
        stepper.step(p, jf, d, jd)
    torch.testing.assert_close(stepper.theta[1], theta.detach())


def test_runs_are_deterministic_and_the_flow_check_covers_every_seed():
    cfg = tiny(steps=20)
    a, b = (run_method(cfg, "ng") for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    flow = gan_flow(tiny(steps=10))
    assert set(flow["integrator"]) == {"euler", "rk4"} and set(flow["init"]) == {0, 1, 2}
    assert sorted(set(flow.loc[flow["integrator"] == "euler", "step_size"])) == [0.25, 0.5, 1.0, 2.0]
    assert flow.loc[flow["integrator"] == "rk4", "inside"].all() and (flow["setting"] == "mu=1").all()
    assert gan_flow(tiny(mu=0.0)).empty                                   # not strictly convex-concave: no claim


def test_rises_uses_the_tolerance_and_counts_a_step_to_a_non_finite_value():
    v = np.array([1.0, 0.5, 0.5000001, 0.4, 0.6])
    assert rises(v, 1e-6) == 1 and rises(v, 0.0) == 2
    assert rises(np.array([1.0, 0.5, np.inf, np.nan])) == 1 and rises(np.array([1.0, np.nan, np.nan])) == 1


def _runs() -> pd.DataFrame:
    rows = []
    for seed in range(6):
        rows.append({"method": "ng", "init": seed, "V_start": 1.0, "V_end": 1e-8 * (seed + 1), "rises": 0})
        rows.append({"method": "gda", "init": seed, "V_start": 1.0, "V_end": 1e-6 * (seed + 1), "rises": 4})
    return pd.DataFrame(rows)


def _flow(inside=(True,) * 6) -> pd.DataFrame:
    return pd.DataFrame([{"setting": "mu=1", "init": i, "lr": 1.0, "integrator": "rk4", "step_size": 1.0, "rises": 0,
                          "inside": ok, "sigma_F_min": 0.1 if ok else 1e-12, "sigma_G_min": 0.2, "ref_error": 1e-6}
                         for i, ok in enumerate(inside)])


def test_claim_statistics_pair_inits_and_keep_to_the_assumption():
    runs = _runs()
    inits, note = _inside(_flow())
    assert inits == list(range(6)) and note == ""
    logs = _log_ratios(runs, "gda", inits)
    assert logs.to_numpy() == pytest.approx(np.full(6, -2.0))   # ng ends 100x below gda on every init
    inits, note = _inside(_flow(inside=(False, False, True, True, True, True)))
    assert inits == [2, 3, 4, 5] and note.startswith("2/6 inits left the full-rank assumption")
    assert len(_log_ratios(runs, "gda", inits)) == 4
    assert _inside(_flow(inside=(False,) * 6))[0] == []
