"""The toy theorem: truncated cubic, hand-written gradients vs autograd, batched vs per-seed runs,
the registry updates on batched tensors vs the registry optimizers, the cone shares over the latent
distribution on hand-made generators, the step rule's events and per-d summary, the tuning grid,
and the CLI jobs."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from ganopt.errors import ConfigError, GanoptError
from ganopt.stats import FAILS, HOLDS, INCONCLUSIVE, share_interval
from ganopt.toy.config import TOY_OPTIMIZERS, ToyConfig, horizon, latent_width, single_latent_mass, tuned_pair
from ganopt.toy.job import toy_compare_job, toy_theorem_job, toy_tune_job
from ganopt.toy.metrics import cone_shares, latent_metrics, moved_share
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
from ganopt.toy.report import last_step_events, run_events, summary_table, to_frame
from ganopt.toy.simulate import simulate
from ganopt.toy.tune import grid_pairs
from ganopt.toy.updates import BatchedPlayer

# d = 6: m_G = m_D = ceil(1.2 ln 6) = 3, T(6) = ceil(17 ln 6) = 31 steps
TINY = {"n_seeds": 3, "steps_per_log": 17.0, "eval_every": 10, "batch_size": 8, "d": (6,), "u_cos": (0.4, 0.6),
        "m_per_log": 1.2, "chunk": 7, "init_g": 0.9, "init_d": 1.8, "dtype": "float64"}
LRS = {"lr_g": (0.05,), "lr_d": (0.1,)}


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
def test_batched_runs_equal_per_seed_runs_and_per_run_step_sizes(optimizer):
    cfg = ToyConfig(**LRS, **TINY)
    assert (cfg.m(6), cfg.steps(6)) == (3, 31)
    pairs = [(0.05, 0.1), (0.02, 0.07)]
    batched = simulate(cfg, optimizer, 6, [4, 7, 9], lrs=pairs)
    assert batched.seeds == [4, 7, 9] * 4 and batched.u_cos == [0.4] * 6 + [0.6] * 6
    assert batched.lr_g == ([0.05] * 3 + [0.02] * 3) * 2 and batched.steps[-1] == 31
    assert not torch.equal(batched.metrics["loss/D"][-1], batched.metrics["loss/D"][0])  # the runs did something
    for i, seed in enumerate([4, 7, 9]):
        for j, pair in enumerate(pairs):
            alone = simulate(cfg, optimizer, 6, [seed], lrs=[pair])
            for key, values in alone.metrics.items():
                run = [j * 3 + i, 6 + j * 3 + i]
                assert torch.allclose(values, batched.metrics[key][:, run], rtol=1e-9, atol=1e-12, equal_nan=True), key
    again = simulate(cfg, optimizer, 6, [4, 7, 9], lrs=pairs)
    for key in batched.metrics:
        assert torch.equal(torch.nan_to_num(again.metrics[key]), torch.nan_to_num(batched.metrics[key]))
    default = simulate(cfg, optimizer, 6, [4, 7, 9])     # the config's pair at d
    assert torch.equal(torch.nan_to_num(default.metrics["p1"]), torch.nan_to_num(batched.metrics["p1"][:, [0, 1, 2, 6, 7, 8]]))


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


def test_all_latents_on_u1_recover_one_mode_only():
    theta = math.degrees(math.acos(0.4))
    U, X = _in_plane(0.4, [theta / 2] * 6)                               # every column on u1
    p = cone_shares(2 * X, U, cone=1 / 6, pair_fraction=0.02)
    assert p[0].tolist() == pytest.approx([1.0, 0.0, 0.0])               # pairs 2 u1 too: p1 = 1
    events = last_step_events(pd.DataFrame({"p1": [1.0], "p2": [0.0], "p_s": [0.0], "one_latent": [0.98 / 6]}), 0.5, 0.2)
    assert events.loc[0, "min_p"] == 0 and not events.loc[0, "both_modes"]


@pytest.mark.parametrize("pair_fraction", [0.0, 0.1])
def test_half_the_latents_on_each_mode(pair_fraction):
    """Three columns on u1, three on u2: without pairs p1 = p2 = 0.5; a pair of one of each sums to a
    point on u1 + u2 (collapsed), a pair on one mode stays on it: 3 of the 15 pairs per mode."""
    theta = math.degrees(math.acos(0.4))
    U, X = _in_plane(0.4, [theta / 2] * 3 + [-theta / 2] * 3)
    p1, p2, p_s = cone_shares(X, U, cone=1 / 6, pair_fraction=pair_fraction)[0].tolist()
    single = (1 - pair_fraction) / 6
    assert p1 == pytest.approx(3 * single + pair_fraction * 3 / 15) and p2 == pytest.approx(p1)
    assert p_s == pytest.approx(pair_fraction * 9 / 15)
    assert (p1, p_s) == (pytest.approx(0.5), 0.0) if pair_fraction == 0 else True
    events = last_step_events(pd.DataFrame({"p1": [p1], "p2": [p2], "p_s": [p_s],
                                            "one_latent": [single_latent_mass(6, pair_fraction)]}), 0.5, 0.2)
    assert events.loc[0, "min_p"] == pytest.approx(p1) and events.loc[0, "both_modes"]


@pytest.mark.parametrize("u_cos", [0.2, 0.4, 0.9])
def test_cones_split_the_arc_from_s_to_each_mode_in_thirds(u_cos):
    sixth = math.degrees(math.acos(u_cos)) / 6
    # angles from s: on s, inside / outside the collapsed cone, the middle third, inside the cone
    # of u1, on u1, on u2, beyond u1, pointing away (-s)
    phis = [0.0, 0.9 * sixth, 1.1 * sixth, 1.5 * sixth, 2.1 * sixth, 3 * sixth, -3 * sixth, 3.5 * sixth, 180.0]
    U, X = _in_plane(u_cos, phis)
    one = [[0.0] * 9 for _ in range(3)]
    for k in range(9):
        mass = [0.0] * 9
        mass[k] = 1.0
        p = cone_shares(3 * X[..., [k, k]], U, 1 / 6, 0.0)[0].tolist()   # two copies: norm and count do not matter
        for row in range(3):
            one[row][k] = p[row]
    assert one[0] == [0, 0, 0, 0, 1, 1, 0, 1, 0]      # u1's cone (beyond u1 by half a sixth: inside)
    assert one[1] == [0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert one[2] == [1, 1, 0, 0, 0, 0, 0, 0, 0]      # a latent on u1 is not collapsed, whatever its cos with s
    out_of_plane = torch.zeros(1, 4, 2, dtype=torch.float64)
    out_of_plane[0, 2] = 1.0
    assert cone_shares(out_of_plane, U, 1 / 6, 0.0).sum() == 0


def test_moved_share_and_metrics_weigh_pairs_by_their_probability():
    theta = math.degrees(math.acos(0.4))
    U, X = _in_plane(0.4, [0.0, theta / 2, -theta / 2, 90.0])            # s, u1, u2, orthogonal in the plane
    V = 2 * X
    V0 = V.clone()
    V0[..., :2] = 0.01                                                    # columns 0-1 moved, 2-3 did not
    # pairs (0,1): moved (2.0 vs 0.02); (0,2), (0,3), (1,2), (1,3): ||delta|| ~2 vs ||V0 pair|| ~2: not all
    delta = (V - V0)[0]
    start = V0[0]
    moved_pairs = sum(float((delta[:, i] + delta[:, j]).norm() >= (start[:, i] + start[:, j]).norm())
                      for i in range(4) for j in range(i + 1, 4))
    expected = 0.9 * 2 / 4 + 0.1 * moved_pairs / 6
    assert moved_share(V, V0, 1.0, 0.1).item() == pytest.approx(expected)
    W = torch.cat([U, -U], dim=-1).transpose(1, 2)                        # rows u1, u2, -u1, -u2
    m = latent_metrics(V, V0, W, U, cone=1 / 6, moved_factor=1.0, pair_fraction=0.0)
    assert (m["p1"].item(), m["p2"].item(), m["p_s"].item()) == (0.25, 0.25, 0.25)
    assert m["align_d/u1"].item() == pytest.approx(1 / 4) and m["align_d/u2"].item() == pytest.approx(1 / 4)
    # G = alpha (u1 + u2) + xi with ||u1 + u2|| = sqrt(2.8): a column on u1 has ||xi|| / |alpha| = tan(theta/2) sqrt(2.8)
    assert m["xi_ratio"].item() == pytest.approx(math.tan(math.radians(theta / 2)) * math.sqrt(2.8) / 2)  # median of (0, it)
    none_moved = latent_metrics(V0, V0, W, U, 1 / 6, 1.0, 0.0)
    assert math.isnan(none_moved["xi_ratio"].item()) and none_moved["moved"].item() == 0


def _events(rows: list[tuple]) -> pd.DataFrame:
    """Runs' last-step rows from (optimizer, d, seed, p1, p2, p_s) tuples (m = 10, no pairs)."""
    last = pd.DataFrame([{"optimizer": o, "d": d, "u_cos": 0.4, "seed": s, "lr_g": 0.1, "lr_d": 0.01, "m": 10,
                          "one_latent": 0.1, "step": 100, "p1": p1, "p2": p2, "p_s": ps, "moved": 0.9, "xi_ratio": 1.0}
                         for o, d, s, p1, p2, ps in rows])
    return last_step_events(last, collapse_min=0.5, strict_min=0.2)


def test_events_read_every_run_at_its_last_step():
    frame = pd.DataFrame([{"optimizer": "sgda", "d": 6, "u_cos": 0.4, "seed": s, "lr_g": 0.1, "lr_d": 0.01, "m": 10,
                           "one_latent": 0.1, "step": t, "p1": p1, "p2": p2, "p_s": ps, "moved": 0.5, "xi_ratio": 1.0}
                          for s, t, p1, p2, ps in [(0, 0, 0, 0, 0), (0, 10, 0.0, 0.0, 0.9), (0, 20, 0.3, 0.1, 0.2),
                                                   (1, 0, 0, 0, 0), (1, 10, 0.5, 0.4, 0.0), (1, 20, 0.05, 0.3, 0.6)]])
    events = run_events(frame, collapse_min=0.5, strict_min=0.2).set_index("seed")
    # seed 0 collapsed at step 10 (peak) but not at the end; the end decides, for both events
    assert events["step"].tolist() == [20, 20] and events["collapses"].tolist() == [False, True]
    assert events["both_modes"].tolist() == [True, False] and events["both_modes_strict"].tolist() == [False, False]
    assert events.loc[0, "sum_p"] == pytest.approx(0.4) and events.loc[1, "gap_p"] == pytest.approx(0.25)


def test_summary_counts_seeds_per_d_with_three_valued_verdicts():
    # d 100: 14/16 recover (holds); d 400: 8/16 (inconclusive); d 1600: 2/16 (does not hold)
    rows = [("nsgda_global", d, s, 0.3 if s < k else 0.05, 0.3, 0.0) for d, k in ((100, 14), (400, 8), (1600, 2))
            for s in range(16)]
    summary = summary_table(_events(rows), seed_share_min=0.5)
    assert summary["both_modes_seeds"].tolist() == [14, 8, 2] and summary["n_seeds"].tolist() == [16] * 3
    assert summary["both_modes_verdict"].tolist() == [HOLDS, INCONCLUSIVE, FAILS]
    assert summary.loc[0, "both_modes_low"] == pytest.approx(share_interval(14, 16)[1])
    assert summary["min_p_median"].tolist() == pytest.approx([0.3, (0.3 + 0.05) / 2, 0.05])
    assert summary["collapses_seeds"].tolist() == [0, 0, 0]


def test_tuning_grid_follows_each_family():
    lr_g, lr_d = tuned_pair("sgda", 400, 0.04, 2.0)
    assert (lr_g, lr_d) == (pytest.approx(2 * math.sqrt(400 * 0.04) / math.log(400) ** 2), 0.04)
    assert tuned_pair("nsgda_global", 400, 0.04, 0.5) == (0.02, 0.04)
    assert grid_pairs("nsgda_layer", 100, {"lr_d": [0.02, 0.04], "ratio": [0.5, 1.0]}) == [
        (0.01, 0.02), (0.02, 0.02), (0.02, 0.04), (0.04, 0.04)]
    assert [latent_width(d, 2.0) for d in (100, 400, 1600)] == [10, 12, 15]
    assert [horizon(d, 600) for d in (100, 400, 1600)] == [2764, 3595, 4427]


def test_bad_settings_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="lr_d"):
        ToyConfig(lr_g=(0.1,), lr_d=(-1.0,), d=(100,))
    with pytest.raises(ConfigError, match="one step size per d"):
        ToyConfig(lr_g=(0.1,), lr_d=(0.1,), d=(100, 400))
    with pytest.raises(ConfigError, match="u_cos"):
        ToyConfig(lr_g=(0.1,), lr_d=(0.1,), d=(100,), u_cos=(0.4, 1.0))
    with pytest.raises(ConfigError, match="not one of"):
        toy_theorem_job({"optimizer": "rmsprop", "toy": {**LRS}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        toy_theorem_job({"optimizer": "sgda", "toy": {**LRS, "d": [6], "eta": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="no grid for sgda"):
        toy_tune_job({"optimizer": "sgda", "toy": {**TINY, **LRS}, "tune": {"seeds": [100], "grids": {}},
                      "tracking": {"enabled": False}}, tmp_path)


def test_jobs_write_trajectories_figures_events_and_the_tuning_table(tmp_path):
    toy = {**TINY, "d": [6, 5], "lr_g": [0.05, 0.05], "lr_d": [0.1, 0.1], "dtype": "float32"}
    for optimizer in ("nsgda_global", "sgda"):
        toy_theorem_job({"optimizer": optimizer, "toy": toy, "tracking": {"enabled": False}, "device": "cpu"}, tmp_path)
    frame = pd.read_csv(tmp_path / "nsgda_global.csv")
    assert set(frame["d"]) == {5, 6} and set(frame.loc[frame["d"] == 6, "step"]) == {0, 10, 20, 30, 31}
    assert len(frame) == 3 * 2 * (5 + 4)                                  # T(5) = ceil(17 ln 5) = 28: 0, 10, 20, 28
    assert {"p1", "p2", "p_s", "moved", "xi_ratio", "loss/D", "one_latent", "m"} <= set(frame.columns)
    assert (tmp_path / "nsgda_global.png").stat().st_size > 0
    info = json.loads((tmp_path / "nsgda_global.json").read_text())
    assert len(info["summary"]) == 4 and info["config"]["lr_g"] == [0.05, 0.05]
    cfg = ToyConfig(**{**toy, "d": (6,), "lr_g": (0.05,), "lr_d": (0.1,)})
    expected = to_frame(simulate(cfg, "nsgda_global", 6, range(3)), "nsgda_global", cfg.pair_fraction)
    assert frame[frame["d"] == 6]["p1"].tolist() == pytest.approx(expected["p1"].tolist())
    job = {"optimizers": ["nsgda_global", "sgda"], "collapse_min": 0.5, "strict_min": 0.2, "seed_share_min": 0.5,
           "cone": 1 / 6, "tracking": {"enabled": False}, "device": "cpu"}
    toy_compare_job(job, tmp_path)
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert len(sweep) == 2 * 2 * 2 and (sweep["n_seeds"] == 3).all() and set(sweep["steps"]) == {28, 31}
    assert len(pd.read_csv(tmp_path / "seeds.csv")) == 2 * 4 * 3
    for name in ("compare.png", "phase.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(GanoptError, match="adam"):
        toy_compare_job({**job, "optimizers": ["adam"]}, tmp_path)
    tune = {"seeds": [100, 101], "grids": {"sgda": {"lr_d": [0.05, 0.1], "ratio": [1.0]}}}
    toy_tune_job({"optimizer": "sgda", "toy": toy, "tune": tune, "tracking": {"enabled": False}}, tmp_path)
    table = pd.read_csv(tmp_path / "tune" / "sgda.csv")
    assert len(table) == 2 * 2 and table.groupby("d")["chosen"].sum().tolist() == [1, 1]
    assert table["lr_g"].tolist() == pytest.approx([tuned_pair("sgda", d, lr, 1.0)[0] for d in (6, 5) for lr in (0.05, 0.1)])


def test_schema_documents_every_toy_constant():
    """Defaults live in the schema only (test_config checks ToyConfig takes them from there)."""
    import dataclasses

    import yaml

    from ganopt.config import SCHEMA_DIR, validate_config

    schema = yaml.safe_load((SCHEMA_DIR / "toy.schema.yaml").read_text())
    properties = schema["properties"]
    fields = {f.name for f in dataclasses.fields(ToyConfig) if f.name not in ("lr_g", "lr_d")}
    assert set(properties) == set(fields) | {"activate", "optimizers", "tune"}
    assert set(properties["optimizers"]["properties"]) == set(TOY_OPTIMIZERS)
    assert set(schema["$defs"]["settings"]["required"]) == {"lr_g", "lr_d"}
    assert all(properties[name]["description"] and "default" in properties[name] for name in fields)
    assert ToyConfig(lr_g=(0.1,) * 3, lr_d=(0.01,) * 3).d == tuple(properties["d"]["default"])
    sgda = lambda: {"optimizers": {"sgda": {"lr_g": [1, 1, 1], "lr_d": [1, 1, 1]}}}
    filled = validate_config({"data": {"digits": None}})
    assert filled["toy"]["activate"] is False and filled["toy"]["steps_per_log"] == 600
    filled = validate_config({"data": {"digits": None}, "toy": sgda()})
    assert filled["toy"]["activate"] is True and filled["toy"]["cone"] == pytest.approx(1 / 6)
    assert filled["toy"]["tune"]["seeds"] == list(range(100, 108))
    with pytest.raises(ConfigError, match="toy.u_cos"):
        validate_config({"data": {"digits": None}, "toy": {"u_cos": [0.4, 0], **sgda()}})
    with pytest.raises(ConfigError, match="toy.optimizers"):
        validate_config({"data": {"digits": None}, "toy": {"optimizers": {"sgd": {"lr_g": [1], "lr_d": [1]}}}})
    with pytest.raises(ConfigError, match="one step size per toy.d"):
        validate_config({"data": {"digits": None}, "toy": {"d": [100], **sgda()}})


def test_toy_optimizer_names_are_registry_names():
    from ganopt.optim import OPTIMIZERS

    assert set(TOY_OPTIMIZERS) <= set(OPTIMIZERS)
