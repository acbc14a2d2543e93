"""The finite-support GAN (ganopt.natgrad.gan): its payoff is ganopt.gan.losses' GAN objective, its
players are ganopt.gan.nets MLPs, the full-rank check and singular-value log, NG decreasing V, and the
seed statistics of its claims (ganopt.report.natgrad_claims)."""


import numpy as np
import pandas as pd
import pytest
import torch

from ganopt.gan import losses
from ganopt.gan.nets import Discriminator, Generator
from ganopt.natgrad.gan import (
    FiniteGan,
    GanConfig,
    Stepper,
    data_weights,
    payoff,
    run_seed,
)
from ganopt.natgrad.monotone import rises
from ganopt.report.natgrad_claims import _log_ratios, inside_assumption

TINY = {"net": {"z_dim": 2, "width": 16, "depth": 1}, "steps": 60, "record_every": 10, "seeds": (0,)}


def tiny(**kw) -> GanConfig:
    from ganopt.config import from_dict

    return from_dict(GanConfig, {**TINY, **kw})


def test_payoff_is_the_gan_objective_of_ganopt_losses():
    """With p = p_data = uniform and mu = 0, Psi = -d_logistic(u, u) (D's loss on the same logits);
    -Psi's gradient in p is minus log(1 - D), and prob outputs give the same value as logits."""
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


def test_players_are_ganopt_nets_and_the_equilibrium_is_stationary():
    game = FiniteGan(tiny(), 0, torch.device("cpu"))
    assert isinstance(game.G, Generator) and isinstance(game.D, Discriminator)
    p, u = game.outputs()
    assert p.shape == u.shape == (8,) and float(p.detach().sum()) == pytest.approx(1.0)
    grad_p, grad_u = game.output_grads(game.p_data, torch.zeros(8, dtype=torch.float64))
    assert float(grad_p.abs().max()) < 1e-12 and float(grad_u.abs().max()) < 1e-12


def test_singular_values_and_full_rank_check_on_a_tiny_case():
    """J_F of a softmax player has rank K - 1 (sigma_K = 0 exactly), so the check logs sigma_{K-1};
    J_D of an overparametrized MLP on K distinct points has rank K. Saturating the generator's
    softmax (huge logit scale) drives sigma_{K-1}(J_F) to ~0 and the run out of the assumption."""
    cfg = tiny()
    game = FiniteGan(cfg, 0, torch.device("cpu"))
    jf, jd = game.jacobians()
    svf = torch.linalg.svdvals(jf.dense())
    svd = torch.linalg.svdvals(jd.dense())
    s_f, s_d, r_f, r_d = game.sigmas()
    assert float(svf[-1]) < 1e-10 * float(svf[0])                    # sum of p is 1: rank <= K - 1
    assert s_f == pytest.approx(float(svf[-2]), rel=1e-6) and s_d == pytest.approx(float(svd[-1]), rel=1e-6)
    assert r_f > 1e-3 and r_d > 1e-3
    frame = run_seed(cfg, "ng", 1, torch.device("cpu"))   # seed 1 stays inside (see the next test)
    assert {"sigma_G", "sigma_D", "sigma_G_min", "sigma_D_min", "full_rank"} <= set(frame.columns)
    assert frame["full_rank"].all() and frame["sigma_G_min"].iloc[0] == frame["sigma_G"].min()
    saturated = run_seed(tiny(init_scale=8.0, steps=10), "ng", 0, torch.device("cpu"))
    assert saturated["sigma_G_rel"].min() < 1e-6 and not saturated["full_rank"].any()


def test_natural_gradient_decreases_v_monotonically_and_gda_does_not():
    """From an init whose NG trajectory stays full rank (seed 1 of this tiny net; seeds 0 and 2 touch
    the simplex's boundary), V never rises and falls by 8 orders; GDA from the same start oscillates."""
    cfg = tiny(steps=150, lr={"ng": 1.0, "gda": 1.0, "adam": 0.01})
    ng = run_seed(cfg, "ng", 1, torch.device("cpu"))
    assert ng["full_rank"].all() and ng["rises"].iloc[0] == 0
    assert ng["V"].iloc[-1] < 1e-7 * ng["V"].iloc[0]
    gda = run_seed(cfg, "gda", 1, torch.device("cpu"))
    assert gda["V"].iloc[0] == ng["V"].iloc[0]                        # same initialization
    assert gda["rises"].iloc[0] > 0


def test_baselines_step_through_the_registry_with_config_hparams():
    cfg = tiny(hparams={"adam": {"betas": [0.0, 0.9]}})
    stepper = Stepper(FiniteGan(cfg, 0, torch.device("cpu")), cfg, "adam")
    assert stepper.loop.opt_g.param_groups[0]["betas"] == (0.0, 0.9)
    assert stepper.loop.opt_g.param_groups[0]["lr"] == cfg.lr["adam"]
    before = [p.detach().clone() for p in stepper.game.G.parameters()]
    stepper.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, stepper.game.G.parameters()))


def test_runs_are_deterministic():
    cfg = tiny(steps=20)
    a, b = (run_seed(cfg, "ng", 3, torch.device("cpu")) for _ in range(2))
    pd.testing.assert_frame_equal(a, b)


def test_rises_uses_the_tolerance():
    v = np.array([1.0, 0.5, 0.5000001, 0.4, 0.6])
    assert rises(v, 1e-6) == 1 and rises(v, 0.0) == 2


def _runs(ng_rank=(True,) * 6) -> pd.DataFrame:
    rows = []
    for seed in range(6):
        rows.append({"method": "ng", "init": seed, "V_start": 1.0, "V_end": 1e-8 * (seed + 1), "rises": 0,
                     "sigma_G_min": 0.1 if ng_rank[seed] else 1e-12, "sigma_D_min": 0.2, "full_rank": ng_rank[seed]})
        rows.append({"method": "gda", "init": seed, "V_start": 1.0, "V_end": 1e-6 * (seed + 1), "rises": 4,
                     "sigma_G_min": 0.1, "sigma_D_min": 0.2, "full_rank": True})
    return pd.DataFrame(rows)


def test_claim_statistics_pair_inits_and_keep_to_the_assumption():
    runs = _runs()
    inits, note = inside_assumption(runs)
    assert inits == list(range(6)) and note == ""
    logs = _log_ratios(runs, "gda", inits)
    assert logs.to_numpy() == pytest.approx(np.full(6, -2.0))   # ng ends 100x below gda on every init
    outside = _runs(ng_rank=(False, False, True, True, True, True))
    inits, note = inside_assumption(outside)
    assert inits == [2, 3, 4, 5] and "2/6 ng runs left" in note and len(_log_ratios(outside, "gda", inits)) == 4
    assert inside_assumption(_runs(ng_rank=(False,) * 6))[0] == []
