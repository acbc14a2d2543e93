"""The toy theorem: truncated cubic, hand-written gradients vs autograd, batched vs per-seed
runs, update rules vs torch.optim, metric functions on hand-made outputs, and the CLI job."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from ganopt.errors import ConfigError, GanoptError
from ganopt.toy import TOY_OPTIMIZERS, ToyConfig, simulate, toy_compare_job, toy_theorem_job
from ganopt.toy.metrics import latent_metrics
from ganopt.toy.model import Batch, Game, Params, cubic, cubic_grad, dense_batch, draw_samples, modes, objective_grads
from ganopt.toy.report import summarize, to_frame
from ganopt.toy.updates import Directions

TINY = dict(n_seeds=3, steps=30, eval_every=10, batch_size=8, d=6, m_g=4, m_d=3, chunk=7,
            init_g=0.5, init_d=1.0, dtype="float64")


@pytest.mark.parametrize("threshold", [0.3, 1.0, 2.5])
def test_cubic_matches_formula_and_is_c1_at_threshold(threshold):
    h = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.1, 0.7, 4.0], dtype=torch.float64) * threshold
    expected = [x**3 if abs(x) <= threshold else 3 * threshold**2 * x - math.copysign(2 * threshold**3, x)
                for x in h.tolist()]
    assert torch.allclose(cubic(h, threshold), torch.tensor(expected, dtype=torch.float64))
    for edge in (threshold, -threshold):
        x = torch.tensor([edge - 1e-7, edge, edge + 1e-7], dtype=torch.float64, requires_grad=True)
        y = cubic(x, threshold)
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.allclose(y[0], y[2], atol=1e-5) and torch.allclose(y[1], torch.tensor(edge**3, dtype=y.dtype))
        assert torch.allclose(grad, torch.full_like(grad, 3 * threshold**2), atol=1e-5)
        assert torch.allclose(cubic_grad(x.detach(), threshold), grad)


def test_hand_written_gradients_match_autograd():
    gen = torch.Generator().manual_seed(3)
    R, n, d, m_g, m_d = 2, 5, 6, 4, 3
    dt = torch.float64
    U = torch.stack([modes(d, 0.4, gen, dt) for _ in range(R)])
    V = (torch.randn(R, d, m_g, generator=gen, dtype=dt) * 0.8).requires_grad_()
    W = (torch.randn(R, m_d, d, generator=gen, dtype=dt) * 0.8).requires_grad_()
    b = torch.randn(R, 1, generator=gen, dtype=dt).requires_grad_()
    batches = [dense_batch(draw_samples(1, n, m_g, 0.5, 0.4, gen), m_g, dt) for _ in range(R)]
    batch = Batch(S=torch.cat([x.S for x in batches]), Z=torch.cat([x.Z for x in batches]))
    game = Game(a=0.7, lam=1.3, threshold=0.5)
    X = batch.S @ U.transpose(1, 2)                       # real points (R, n, d)
    Y = batch.Z @ V.transpose(1, 2)                       # fake points G(z) = V z
    logit = lambda P: game.a * cubic(P @ W.transpose(1, 2), game.threshold).sum(-1) + game.lam * b  # noqa: E731
    f = (torch.log(torch.sigmoid(logit(X))).mean(1) + torch.log(1 - torch.sigmoid(logit(Y))).mean(1)).sum()
    gV, gW, gb = torch.autograd.grad(f, (V, W, b))
    h = (W.detach() @ U).abs()
    assert (h > game.threshold).any() and (h < game.threshold).any()  # both branches of sigma used
    mine = objective_grads(Params(V.detach(), W.detach(), b.detach()), U, batch, game)
    assert torch.allclose(mine.V, gV) and torch.allclose(mine.W, gW) and torch.allclose(mine.b, gb)
    assert torch.allclose(mine.value.sum(), f.detach())


@pytest.mark.parametrize("optimizer", TOY_OPTIMIZERS)
def test_batched_runs_equal_per_seed_runs(optimizer):
    cfg = ToyConfig(lrs=((0.05, 0.1), (0.2, 0.02)), **TINY)
    batched = simulate(cfg, optimizer, [4, 7, 9])
    assert batched.seeds == [4, 7, 9, 4, 7, 9] and batched.settings == [0, 0, 0, 1, 1, 1]
    moved = batched.metrics["moved_frac"][-1]
    assert moved.max() > 0  # the runs did something
    for i, seed in enumerate([4, 7, 9]):
        alone = simulate(cfg, optimizer, [seed])
        for key, values in alone.metrics.items():
            assert torch.allclose(values, batched.metrics[key][:, [i, i + 3]], rtol=1e-9, atol=1e-12,
                                  equal_nan=True), key
    again = simulate(cfg, optimizer, [4, 7, 9])
    for key in batched.metrics:
        assert torch.equal(torch.nan_to_num(again.metrics[key]), torch.nan_to_num(batched.metrics[key]))


def test_update_rules_match_their_formulas():
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, 5, generator=gen, dtype=torch.float64),
             torch.randn(3, 1, generator=gen, dtype=torch.float64)]
    assert Directions("sgda", (0.9, 0.99), 1e-8)("D", grads, 1) is grads
    layer = Directions("nsgda_layer", (0.9, 0.99), 1e-8)("D", grads, 1)
    for d in layer:
        assert torch.allclose(d.flatten(1).norm(dim=1), torch.ones(3, dtype=torch.float64))
    glob = Directions("nsgda_global", (0.9, 0.99), 1e-8)("D", grads, 1)
    total = sum(d.flatten(1).norm(dim=1) ** 2 for d in glob).sqrt()
    assert torch.allclose(total, torch.ones(3, dtype=torch.float64))
    assert torch.allclose(glob[0][1] / grads[0][1], (glob[1][1] / grads[1][1]).expand(4, 5))  # one scale


def test_batched_adam_matches_torch_adam():
    gen = torch.Generator().manual_seed(1)
    betas, eps, lr = (0.5, 0.999), 1e-8, 0.01
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    ref = [x[r].clone().requires_grad_() for r in range(3)]
    opts = [torch.optim.Adam([p], lr=lr, betas=betas, eps=eps) for p in ref]
    rule = Directions("adam", betas, eps)
    for step in range(1, 8):
        g = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        x = x - lr * rule("G", [g], step)[0]
        for r in range(3):
            ref[r].grad = g[r].clone()
            opts[r].step()
    assert torch.allclose(x, torch.stack([p.detach() for p in ref]), atol=1e-12)


@pytest.mark.parametrize("optimizer", TOY_OPTIMIZERS)
def test_batched_rules_match_the_registry_optimizers(optimizer):
    """Each run's slice moves exactly as ganopt.optim's per-tensor optimizer of the same name."""
    from ganopt.optim import build_optimizer

    gen = torch.Generator().manual_seed(2)
    betas, eps, lr, R = (0.5, 0.999), 1e-8, 0.03, 3
    W = torch.randn(R, 3, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(R, 1, generator=gen, dtype=torch.float64)
    refs = [(W[r].clone().requires_grad_(), b[r].clone().requires_grad_()) for r in range(R)]
    extra = {"betas": betas, "eps": eps} if optimizer == "adam" else {}
    opts = [build_optimizer(optimizer, [("W", w), ("b", c)], lr, **extra) for w, c in refs]
    rule = Directions(optimizer, betas, eps)
    for step in range(1, 6):
        gW = torch.randn(R, 3, 4, generator=gen, dtype=torch.float64)
        gb = torch.randn(R, 1, generator=gen, dtype=torch.float64) if step != 3 else torch.zeros(R, 1).double()
        dW, db = rule("D", [gW, gb], step)
        W, b = W - lr * dW, b - lr * db
        for r, ((w, c), opt) in enumerate(zip(refs, opts)):
            w.grad, c.grad = gW[r].clone(), gb[r].clone()
            opt.step()
    assert torch.allclose(W, torch.stack([w.detach() for w, _ in refs]), atol=1e-12)
    assert torch.allclose(b, torch.stack([c.detach() for _, c in refs]), atol=1e-12)


def test_metrics_on_hand_made_outputs():
    u1 = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    u2 = torch.tensor([0.4, math.sqrt(1 - 0.16), 0, 0], dtype=torch.float64)
    s = u1 + u2
    other = torch.tensor([0, 0, 1.0, 0], dtype=torch.float64)
    cols = [2 * u1, u2, 3 * s, other, 0.5 * other + 0.5 * s]          # five latents
    V = torch.stack(cols, dim=1).unsqueeze(0)                           # (1, d, 5)
    V0 = V.clone()
    V0[..., :3] = 0.01 * other.unsqueeze(-1)                            # latents 0-2 moved, 3-4 did not
    W = torch.stack([u1, -u2, other]).unsqueeze(0)                      # (1, 3, d)
    U = torch.stack([u1, u2], dim=1).unsqueeze(0)
    m = latent_metrics(V, V0, W, U, recover_cos=0.9, moved_factor=1.0)
    cos_mode = (s @ u1 / s.norm()).item()                               # cos(u1, u1+u2) = sqrt(0.7)
    assert cos_mode < 0.9                                               # so 3s counts for neither mode
    assert m["recovery/u1/all"].item() == pytest.approx(1 / 5)          # only 2u1
    assert m["recovery/u2/all"].item() == pytest.approx(1 / 5)          # only u2
    assert m["recovery/u1/moved"].item() == pytest.approx(1 / 3)
    assert m["moved_frac"].item() == pytest.approx(3 / 5)
    cos_last = (0.5 * s.norm() ** 2 / (s.norm() * (0.5 * other + 0.5 * s).norm())).item()
    expected = [cos_mode, cos_mode, 1.0, 0.0, cos_last]
    assert m["collapse_cos/all"].item() == pytest.approx(sum(expected) / 5)
    assert m["collapse_cos/moved"].item() == pytest.approx(sum(expected[:3]) / 3)
    mode_ratio = ((u1 - 0.5 * s).norm() / 0.5).item()                   # u1 = s/2 + (u1-u2)/2
    assert m["xi_ratio/moved"].item() == pytest.approx(mode_ratio)     # median of (r, r, 0)
    last_ratio = (0.5 * other).norm().item() / 0.5
    ratios = sorted([mode_ratio, mode_ratio, 0.0, math.inf, last_ratio])       # orthogonal latent: alpha = 0
    assert m["xi_ratio/all"].item() == pytest.approx(ratios[2])
    assert m["align_d/u1"].item() == pytest.approx(1 / 3) and m["align_d/u2"].item() == 0.0
    none_moved = latent_metrics(V0, V0, W, U, 0.9, 1.0)
    assert math.isnan(none_moved["recovery/u1/moved"].item()) and none_moved["moved_frac"].item() == 0


def test_summary_picks_peak_and_end():
    frame = pd.DataFrame({
        "optimizer": "sgda", "setting": 0, "lr_g": 0.1, "lr_d": 0.01, "seed": [0, 1] * 3,
        "step": [0, 0, 5, 5, 10, 10],
        "recovery/u1/all": [0.0, 0.0, 0.0, 0.1, 0.5, 0.3], "recovery/u2/all": [0.0, 0.0, 0.1, 0.0, 0.2, 0.1],
        "collapse_cos/all": [0.1, 0.1, 0.9, 0.7, 0.5, 0.6],
    })
    (s,) = summarize(frame, both_min=0.2)
    assert s["peak_collapse"]["step"] == 5 and s["end"]["step"] == 10 and s["n_seeds"] == 2
    assert s["peak_recovery"]["step"] == 10
    assert s["end"]["both_modes_seeds"] == 1
    assert s["peak_collapse"]["metrics"]["collapse_cos/all"]["mean"] == pytest.approx(0.8)


def test_bad_settings_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="lrs"):
        ToyConfig(lrs=((0.1, -1.0),))
    with pytest.raises(ConfigError, match="not one of"):
        toy_theorem_job({"optimizer": "rmsprop", "toy": {"lrs": [[0.1, 0.1]]}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        toy_theorem_job({"optimizer": "sgda", "toy": {"lrs": [[0.1, 0.1]], "eta": 1}}, tmp_path)


def test_job_writes_csv_figure_and_summary(tmp_path):
    toy = dict(TINY, lrs=[[0.05, 0.1]], dtype="float32")
    toy_theorem_job({"optimizer": "nsgda_global", "toy": toy, "tracking": {"enabled": False},
                     "device": "cpu"}, tmp_path)
    frame = pd.read_csv(tmp_path / "nsgda_global.csv")
    assert len(frame) == 3 * 4 and set(frame["step"]) == {0, 10, 20, 30} and set(frame["seed"]) == {0, 1, 2}
    assert {"recovery/u1/moved", "collapse_cos/all", "xi_ratio/moved", "loss/D"} <= set(frame.columns)
    assert (tmp_path / "nsgda_global.png").stat().st_size > 0
    info = json.loads((tmp_path / "nsgda_global.json").read_text())
    assert info["summary"][0]["end"]["step"] == 30 and info["config"]["lrs"] == [[0.05, 0.1]]
    expected = to_frame(simulate(ToyConfig(**{**toy, "lrs": ((0.05, 0.1),)}), "nsgda_global", range(3)),
                        "nsgda_global")
    assert frame["recovery/u1/all"].tolist() == pytest.approx(expected["recovery/u1/all"].tolist())
    job = {"optimizers": ["nsgda_global"], "recover_cos": 0.9, "both_modes_min": 0.2,
           "tracking": {"enabled": False}, "device": "cpu"}
    toy_compare_job(job, tmp_path)
    table = pd.read_csv(tmp_path / "summary.csv")
    assert list(table["point"]) == ["end", "peak_collapse", "peak_recovery"]
    assert (tmp_path / "compare.png").stat().st_size > 0
    end = table[table["point"] == "end"].iloc[0]
    assert end["recovery/u1/all:mean"] == pytest.approx(frame[frame["step"] == 30]["recovery/u1/all"].mean())
    with pytest.raises(GanoptError, match="sgda"):
        toy_compare_job({**job, "optimizers": ["sgda"]}, tmp_path)


def test_toy_section_defaults_and_activation():
    from ganopt.config import validate_config

    filled = validate_config({"data": {"digits": None}})
    assert filled["toy"]["activate"] is False and filled["toy"]["steps"] == 6000
    filled = validate_config({"data": {"digits": None}, "toy": {"optimizers": {"sgda": {"lrs": [[1, 1]]}}}})
    assert filled["toy"]["activate"] is True and filled["toy"]["recover_cos"] == 0.9
    with pytest.raises(ConfigError, match="toy.u_cos"):
        validate_config({"data": {"digits": None}, "toy": {"u_cos": 0, "optimizers": {"sgda": {"lrs": [[1, 1]]}}}})
    with pytest.raises(ConfigError, match="toy.optimizers"):
        validate_config({"data": {"digits": None}, "toy": {"optimizers": {"sgd": {"lrs": [[1, 1]]}}}})


def test_toy_optimizer_names_are_registry_names():
    from ganopt.optim import OPTIMIZERS

    assert set(TOY_OPTIMIZERS) <= set(OPTIMIZERS)
