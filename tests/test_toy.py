"""The toy theorem: truncated cubic, hand-written gradients vs autograd, batched vs per-seed runs,
the registry updates on batched tensors vs the registry optimizers, the angle rules on hand-made
outputs, seed events and sweep counting, and the CLI jobs."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from ganopt.errors import ConfigError, GanoptError
from ganopt.stats import share_interval
from ganopt.toy.config import TOY_OPTIMIZERS, ToyConfig
from ganopt.toy.job import toy_compare_job, toy_theorem_job
from ganopt.toy.metrics import classify, latent_metrics
from ganopt.toy.model import (
    Batch,
    Game,
    Params,
    cubic,
    cubic_grad,
    dense_batch,
    draw_samples,
    modes,
    objective_grads,
    plane,
)
from ganopt.toy.report import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    SKIPPED,
    claim_counts,
    seed_events,
    sweep_table,
    to_frame,
)
from ganopt.toy.simulate import simulate
from ganopt.toy.updates import BatchedPlayer

TINY = {"n_seeds": 3, "steps": 30, "eval_every": 10, "batch_size": 8, "d": (6,), "u_cos": (0.4, 0.6),
        "init_scale": (1.0, 2.0), "m_g": 4, "m_d": 3, "chunk": 7, "init_g": 0.5, "init_d": 1.0, "dtype": "float64"}


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
    U = torch.stack([modes(plane(d, gen), 0.4, dt) for _ in range(R)])
    V = (torch.randn(R, d, m_g, generator=gen, dtype=dt) * 0.8).requires_grad_()
    W = (torch.randn(R, m_d, d, generator=gen, dtype=dt) * 0.8).requires_grad_()
    b = torch.randn(R, 1, generator=gen, dtype=dt).requires_grad_()
    batches = [dense_batch(draw_samples(1, n, m_g, 0.5, 0.4, gen), m_g, dt) for _ in range(R)]
    batch = Batch(S=torch.cat([x.S for x in batches]), Z=torch.cat([x.Z for x in batches]))
    game = Game(a=0.7, lam=1.3, threshold=0.5)
    X = batch.S @ U.transpose(1, 2)                       # real points (R, n, d)
    Y = batch.Z @ V.transpose(1, 2)                       # fake points G(z) = V z
    logit = lambda P: game.a * cubic(P @ W.transpose(1, 2), game.threshold).sum(-1) + game.lam * b
    f = (torch.log(torch.sigmoid(logit(X))).mean(1) + torch.log(1 - torch.sigmoid(logit(Y))).mean(1)).sum()
    gV, gW, gb = torch.autograd.grad(f, (V, W, b))
    h = (W.detach() @ U).abs()
    assert (h > game.threshold).any() and (h < game.threshold).any()  # both branches of sigma used
    mine = objective_grads(Params(V.detach(), W.detach(), b.detach()), U, batch, game)
    assert torch.allclose(mine.V, gV) and torch.allclose(mine.W, gW) and torch.allclose(mine.b, gb)
    assert torch.allclose(mine.value.sum(), f.detach())


@pytest.mark.parametrize("optimizer", TOY_OPTIMIZERS)
def test_batched_runs_equal_per_seed_runs(optimizer):
    cfg = ToyConfig(lr_g=0.05, lr_d=0.1, **TINY)
    batched = simulate(cfg, optimizer, 6, [4, 7, 9])
    n_settings = len(cfg.settings)
    assert batched.seeds == [4, 7, 9] * n_settings and batched.u_cos == [0.4] * 6 + [0.6] * 6
    assert batched.init_scale == ([1.0] * 3 + [2.0] * 3) * 2
    assert batched.metrics["moved"][-1].max() > 0  # the runs did something
    for i, seed in enumerate([4, 7, 9]):
        alone = simulate(cfg, optimizer, 6, [seed])
        for key, values in alone.metrics.items():
            assert torch.allclose(values, batched.metrics[key][:, i::3], rtol=1e-9, atol=1e-12, equal_nan=True), key
    again = simulate(cfg, optimizer, 6, [4, 7, 9])
    for key in batched.metrics:
        assert torch.equal(torch.nan_to_num(again.metrics[key]), torch.nan_to_num(batched.metrics[key]))


@pytest.mark.parametrize("optimizer", [*TOY_OPTIMIZERS, "adalr", "adadir"])
def test_batched_player_equals_the_registry_optimizer_on_each_seed(optimizer):
    """Each run's slice moves exactly as ganopt.optim's torch optimizer of the same name on that
    seed alone, including a step where one run's gradient is zero (its own zero-norm guard)."""
    from ganopt.optim import build_optimizer

    gen = torch.Generator().manual_seed(2)
    betas, eps, lr, R = (0.5, 0.999), 1e-8, 0.03, 3
    W = torch.randn(R, 3, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(R, 1, generator=gen, dtype=torch.float64)
    refs = [(W[r].clone().requires_grad_(), b[r].clone().requires_grad_()) for r in range(R)]
    extra = {"betas": betas, "eps": eps} if "ada" in optimizer else {}
    opts = [build_optimizer(optimizer, [("W", w), ("b", c)], lr, **extra) for w, c in refs]
    player = BatchedPlayer(optimizer, [W, b], lr, betas=betas, eps=eps)
    for step in range(1, 6):
        gW = torch.randn(R, 3, 4, generator=gen, dtype=torch.float64)
        gb = torch.randn(R, 1, generator=gen, dtype=torch.float64)
        if step == 3:
            gW[1], gb[1] = 0.0, 0.0
        player.step([gW, gb])
        for r, ((w, c), opt) in enumerate(zip(refs, opts)):
            w.grad, c.grad = gW[r].clone(), gb[r].clone()
            opt.step()
    assert torch.allclose(W, torch.stack([w.detach() for w, _ in refs]), rtol=0, atol=1e-12)
    assert torch.allclose(b, torch.stack([c.detach() for _, c in refs]), rtol=0, atol=1e-12)


def _in_plane(u_cos: float, degrees: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """U (1, 4, 2) with <u1, u2> = u_cos, and unit vectors (1, 4, k) in their plane at the given
    angles from s = u1 + u2 (positive: towards u1)."""
    theta = math.acos(u_cos)
    at = lambda phi: torch.tensor([math.cos(phi), math.sin(phi), 0, 0], dtype=torch.float64)
    U = torch.stack([at(theta / 2), at(-theta / 2)], dim=1).unsqueeze(0)
    assert torch.allclose(U[0, :, 0] @ U[0, :, 1], torch.tensor(u_cos, dtype=torch.float64))
    X = torch.stack([at(math.radians(p)) for p in degrees], dim=1).unsqueeze(0)
    return U, X


@pytest.mark.parametrize("u_cos", [0.2, 0.4, 0.6, 0.9])
def test_angle_rules_split_the_arc_from_s_to_each_mode_in_thirds(u_cos):
    theta = math.degrees(math.acos(u_cos))
    sixth = theta / 6
    # angles from s: on s, inside / outside the collapsed third, middle, inside the recovered
    # third, on u1, on u2, slightly beyond u1, and pointing away (-s, -u2)
    phis = [0.0, 0.9 * sixth, 1.1 * sixth, 1.5 * sixth, 2.1 * sixth, 3 * sixth, -3 * sixth, 3.5 * sixth, 180.0,
            180 - 3 * sixth]
    U, X = _in_plane(u_cos, phis)
    collapsed, recovered = classify(3 * X, U, angle_margin=1 / 6)   # the norm does not matter
    assert collapsed[0].tolist() == [True, True, False, False, False, False, False, False, False, False]
    assert recovered[0, 0].tolist() == [False, False, False, False, True, True, False, True, False, False]
    assert recovered[0, 1].tolist() == [False] * 6 + [True] + [False] * 3
    out_of_plane = torch.zeros(1, 4, 1, dtype=torch.float64)
    out_of_plane[0, 2] = 1.0
    assert not classify(out_of_plane, U, 1 / 6)[0].any() and not classify(out_of_plane, U, 1 / 6)[1].any()


def test_a_latent_on_a_mode_is_not_collapsed_even_when_its_cos_with_s_is_high():
    U, X = _in_plane(0.6, [math.degrees(math.acos(0.6)) / 2])      # X = u1
    s = U[0].sum(-1)
    assert (X[0, :, 0] @ s / s.norm()).item() == pytest.approx(math.sqrt(0.8))  # 0.894: "collapsed" at cos 0.9
    collapsed, recovered = classify(X, U, 1 / 6)
    assert not collapsed.item() and recovered[0, 0].item()


def test_latent_metrics_are_shares_of_all_latents_that_moved():
    U, X = _in_plane(0.4, [0.0, 0.0, 33.2, -33.2, 90.0])          # s, s, u1, u2, orthogonal in the plane
    V = 2 * X
    V0 = V.clone()
    V0[..., :3] = 0.01                                              # latents 0-2 moved, 3-4 did not
    W = torch.cat([U, -U], dim=-1).transpose(1, 2)                  # rows u1, u2, -u1, -u2
    m = latent_metrics(V, V0, W, U, angle_margin=1 / 6, moved_factor=1.0)
    assert m["moved"].item() == pytest.approx(3 / 5)
    assert m["collapsed"].item() == pytest.approx(2 / 5)
    assert m["recovered/u1"].item() == pytest.approx(1 / 5)
    assert m["recovered/u2"].item() == 0.0                          # u2's latent did not move
    assert m["align_d/u1"].item() == pytest.approx(1 / 4) and m["align_d/u2"].item() == pytest.approx(1 / 4)
    assert m["xi_ratio"].item() == pytest.approx(0.0)               # median of (0, 0, ratio of u1)
    none_moved = latent_metrics(V0, V0, W, U, 1 / 6, 1.0)
    assert math.isnan(none_moved["xi_ratio"].item()) and none_moved["collapsed"].item() == 0


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """A toy frame from (seed, step, collapsed, moved, recovered u1, recovered u2) tuples."""
    return pd.DataFrame([{"optimizer": "sgda", "lr_g": 0.1, "lr_d": 0.01, "d": 50, "u_cos": 0.4, "init_scale": 1.0,
                          "seed": s, "step": t, "collapsed": c, "moved": m, "recovered/u1": r1, "recovered/u2": r2}
                         for s, t, c, m, r1, r2 in rows])


def test_seed_events_take_the_peak_where_half_moved_and_the_end():
    frame = _frame([
        (0, 0, 0.0, 0.0, 0.0, 0.0), (0, 10, 0.4, 0.4, 0.0, 0.0), (0, 20, 0.6, 0.5, 0.0, 0.1), (0, 30, 0.2, 0.9, 0.3, 0.2),
        (1, 0, 0.0, 0.0, 0.0, 0.0), (1, 10, 0.9, 0.3, 0.0, 0.0), (1, 20, 0.4, 0.6, 0.0, 0.0), (1, 30, 0.3, 0.7, 0.5, 0.1),
        (2, 0, 0.0, 0.0, 0.0, 0.0), (2, 10, 0.3, 0.3, 0.0, 0.0), (2, 20, 0.4, 0.4, 0.0, 0.0), (2, 30, 0.4, 0.4, 0.0, 0.0),
    ])
    events = seed_events(frame, collapse_min=0.5, both_modes_min=0.2).set_index("seed")
    assert events.loc[0, "peak_step"] == 20 and events.loc[0, "collapsed_peak"] == 0.6 and events.loc[0, "collapses"]
    # seed 1's 0.9 comes while only 30% moved: its peak is 0.4 at step 20, below collapse_min
    assert events.loc[1, "peak_step"] == 20 and not events.loc[1, "collapses"]
    assert math.isnan(events.loc[2, "peak_step"]) and not events.loc[2, "collapses"]   # never half moved
    assert events["both_modes"].tolist() == [True, False, False]
    assert events.loc[1, "recovered_u1_end"] == 0.5 and events.loc[0, "moved_end"] == 0.9


def test_sweep_counts_seeds_and_settings_with_three_valued_verdicts():
    rows = []
    # (u_cos, seeds collapsing, seeds without a peak (never half moved), seeds recovering both modes)
    for u_cos, collapsing, no_peak, both in ((0.2, 14, 0, 0), (0.4, 8, 4, 16), (0.6, 2, 0, 15), (0.8, 0, 16, 3)):
        for seed in range(16):
            rows.append({"optimizer": "sgda", "d": 50, "u_cos": u_cos, "init_scale": 1.0, "seed": seed, "lr_g": 0.1,
                         "lr_d": 0.01, "peak_step": math.nan if seed >= 16 - no_peak else 10.0,
                         "collapsed_peak": 0.5, "moved_peak": 0.6, "collapsed_end": 0.1, "moved_end": 0.9,
                         "recovered_u1_end": 0.0, "recovered_u2_end": 0.0,
                         "collapses": seed < collapsing, "both_modes": seed < both})
    sweep = sweep_table(pd.DataFrame(rows), seed_share_min=0.5)
    assert sweep["collapses_seeds"].tolist() == [14, 8, 2, 0] and sweep["n_seeds"].tolist() == [16] * 4
    assert sweep["collapses_n"].tolist() == [16, 12, 16, 0] and sweep["both_modes_n"].tolist() == [16] * 4
    # 14/16: Clopper-Pearson low 0.62; 8/12: 0.35-0.90; 2/16: high 0.38; no seed with a peak
    assert sweep["collapses_verdict"].tolist() == [HOLDS, INCONCLUSIVE, FAILS, SKIPPED]
    assert sweep["both_modes_verdict"].tolist() == [FAILS, HOLDS, HOLDS, FAILS]
    assert sweep.loc[0, "collapses_low"] == pytest.approx(share_interval(14, 16)[1])
    assert share_interval(14, 16)[1] > 0.5
    assert sweep.loc[1, "collapses_share"] == pytest.approx(8 / 12) and math.isnan(sweep.loc[3, "collapses_share"])
    counts = claim_counts(sweep, "sgda", "collapses")
    assert (counts[HOLDS], counts[INCONCLUSIVE], counts[FAILS], counts[SKIPPED], counts["settings"]) == (1, 1, 1, 1, 4)
    assert (counts["seeds"], counts["n"]) == (24, 44) and counts["low"] < 24 / 44 < counts["high"]
    counts = claim_counts(sweep, "sgda", "both_modes")
    assert (counts["seeds"], counts["n"], counts[HOLDS]) == (34, 64, 2)


def test_bad_settings_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="lr_d"):
        ToyConfig(lr_g=0.1, lr_d=-1.0)
    with pytest.raises(ConfigError, match="u_cos"):
        ToyConfig(lr_g=0.1, lr_d=0.1, u_cos=(0.4, 1.0))
    with pytest.raises(ConfigError, match="not one of"):
        toy_theorem_job({"optimizer": "rmsprop", "toy": {"lr_g": 0.1, "lr_d": 0.1}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        toy_theorem_job({"optimizer": "sgda", "toy": {"lr_g": 0.1, "lr_d": 0.1, "eta": 1}}, tmp_path)


def test_jobs_write_trajectories_figures_and_the_sweep(tmp_path):
    toy = {**TINY, "d": [6, 5], "lr_g": 0.05, "lr_d": 0.1, "dtype": "float32"}
    toy_theorem_job({"optimizer": "nsgda_global", "toy": toy, "tracking": {"enabled": False},
                     "device": "cpu"}, tmp_path)
    frame = pd.read_csv(tmp_path / "nsgda_global.csv")
    assert len(frame) == 2 * 4 * 3 * 4 and set(frame["step"]) == {0, 10, 20, 30} and set(frame["d"]) == {5, 6}
    assert {"collapsed", "recovered/u1", "recovered/u2", "moved", "xi_ratio", "loss/D"} <= set(frame.columns)
    assert (tmp_path / "nsgda_global.png").stat().st_size > 0
    info = json.loads((tmp_path / "nsgda_global.json").read_text())
    assert len(info["sweep"]) == 8 and info["config"]["lr_g"] == 0.05
    cfg = ToyConfig(**{**toy, "d": (6,)})
    expected = to_frame(simulate(cfg, "nsgda_global", 6, range(3)), "nsgda_global", 0.05, 0.1)
    assert frame[frame["d"] == 6]["collapsed"].tolist() == pytest.approx(expected["collapsed"].tolist())
    job = {"optimizers": ["nsgda_global"], "headline": [5, 0.6, 2.0], "collapse_min": 0.5, "both_modes_min": 0.2, "seed_share_min": 0.5,
           "tracking": {"enabled": False}, "device": "cpu"}
    toy_compare_job(job, tmp_path)
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert len(sweep) == 8 and (sweep["n_seeds"] == 3).all()
    assert len(pd.read_csv(tmp_path / "seeds.csv")) == 8 * 3
    for name in ("compare.png", "sweep.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(GanoptError, match="sgda"):
        toy_compare_job({**job, "optimizers": ["sgda"]}, tmp_path)


def test_schema_documents_every_toy_constant():
    """Defaults live in the schema only (test_config checks ToyConfig takes them from there)."""
    import dataclasses

    import yaml

    from ganopt.config import SCHEMA_DIR, validate_config

    schema = yaml.safe_load((SCHEMA_DIR / "toy.schema.yaml").read_text())
    properties = schema["properties"]
    fields = {f.name for f in dataclasses.fields(ToyConfig) if f.name not in ("lr_g", "lr_d")}
    assert set(properties) == set(fields) | {"activate", "optimizers"}
    assert set(properties["optimizers"]["properties"]) == set(TOY_OPTIMIZERS)
    assert set(schema["$defs"]["settings"]["required"]) == {"lr_g", "lr_d"}
    assert all(properties[name]["description"] and "default" in properties[name] for name in fields)
    assert ToyConfig(lr_g=0.1, lr_d=0.01).d == tuple(properties["d"]["default"])
    sgda = lambda: {"optimizers": {"sgda": {"lr_g": 1, "lr_d": 1}}}
    filled = validate_config({"data": {"digits": None}})
    assert filled["toy"]["activate"] is False and filled["toy"]["steps"] == 6000
    filled = validate_config({"data": {"digits": None}, "toy": sgda()})
    assert filled["toy"]["activate"] is True and filled["toy"]["angle_margin"] == pytest.approx(1 / 6)
    with pytest.raises(ConfigError, match="toy.u_cos"):
        validate_config({"data": {"digits": None}, "toy": {"u_cos": [0.4, 0], **sgda()}})
    with pytest.raises(ConfigError, match="toy.optimizers"):
        validate_config({"data": {"digits": None}, "toy": {"optimizers": {"sgd": {"lr_g": 1, "lr_d": 1}}}})


def test_toy_optimizer_names_are_registry_names():
    from ganopt.optim import OPTIMIZERS

    assert set(TOY_OPTIMIZERS) <= set(OPTIMIZERS)
