"""Optimizer invariants, table-driven over the whole registry (optax's _OPTIMIZERS_UNDER_TEST)."""

import copy
import io
import math

import pytest
import torch

from ganopt.errors import ConfigError
from ganopt.optim import OPTIMIZERS, ComposedOptimizer, build_optimizer
from ganopt.optim.directions import SGD, Adam
from ganopt.optim.magnitude import Graft

NAMES = list(OPTIMIZERS)
SHAPES = {"w": (4, 3), "b": (3,)}


def make_params(seed: int = 0, scale: float = 1.0) -> list[tuple[str, torch.nn.Parameter]]:
    gen = torch.Generator().manual_seed(seed)
    return [(n, torch.nn.Parameter(scale * torch.randn(s, generator=gen))) for n, s in SHAPES.items()]


def grad_sequence(steps: int, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    """Gradients that do not depend on the parameters, with per-tensor scales far apart so
    per-tensor and global norms differ."""
    gen = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(SHAPES["w"], generator=gen), "b": 50 * torch.randn(SHAPES["b"], generator=gen)}
            for _ in range(steps)]


def step_with(opt, params, grads) -> dict[str, torch.Tensor]:
    """Set the given gradients, step, and return the actual parameter change per tensor."""
    before = {n: p.detach().clone() for n, p in params}
    for n, p in params:
        p.grad = grads[n].clone()
    opt.step()
    return {n: p.detach() - before[n] for n, p in params}


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.reshape(-1), b.reshape(-1), dim=0).item()


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_decreases_a_quadratic(name):
    params = make_params()
    curvature = {n: torch.linspace(0.5, 2.0, p.numel()).reshape(p.shape) for n, p in params}

    def loss():
        return sum(0.5 * (curvature[n] * p**2).sum() for n, p in params)

    opt = build_optimizer(name, params, lr=0.05)
    start = loss().item()
    for _ in range(200):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.05 * start


@pytest.mark.parametrize("betas,eps", [((0.9, 0.999), 1e-8), ((0.5, 0.9), 1e-8), ((0.0, 0.9), 1e-6)])
def test_composed_adam_matches_torch_adam(betas, eps):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    reference = copy.deepcopy(model)
    start = flat(model.parameters()).detach().clone()
    ours = build_optimizer("adam", list(model.named_parameters()), lr=1e-2, betas=betas, eps=eps)
    theirs = torch.optim.Adam(reference.parameters(), lr=1e-2, betas=betas, eps=eps)
    for _ in range(20):
        x = torch.randn(16, 5)
        for net, opt in ((model, ours), (reference, theirs)):
            opt.zero_grad()
            (net(x) - 1).pow(2).mean().backward()
            opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert (flat(model.parameters()) - start).norm() > 0.05  # the comparison is over real steps


def adam_reference_deltas(grads_seq, lr):
    """Per-step parameter changes of torch.optim.Adam fed the same gradients."""
    params = make_params()
    opt = torch.optim.Adam([p for _, p in params], lr=lr)
    return [step_with(opt, params, g) for g in grads_seq]


@pytest.mark.parametrize("granularity", ["tensor", "global"])
def test_adalr_graft_has_adams_norm_and_sgds_direction(granularity):
    lr, grads_seq = 1e-2, grad_sequence(6)
    params = make_params()
    opt = ComposedOptimizer(params, SGD(), Graft(Adam()), granularity, lr=lr)
    for grads, ref in zip(grads_seq, adam_reference_deltas(grads_seq, lr)):
        delta = step_with(opt, params, grads)
        if granularity == "tensor":
            for n in SHAPES:
                assert delta[n].norm().item() == pytest.approx(ref[n].norm().item(), rel=1e-4)
                assert cosine(delta[n], -grads[n]) == pytest.approx(1.0, abs=1e-6)
        else:
            assert flat(delta.values()).norm().item() == pytest.approx(flat(ref.values()).norm().item(), rel=1e-4)
            assert cosine(flat(delta.values()), -flat(grads.values())) == pytest.approx(1.0, abs=1e-6)
            per_tensor = [delta[n].norm().item() / ref[n].norm().item() for n in SHAPES]
            assert max(per_tensor) / min(per_tensor) > 2  # the global rule really differs per tensor


@pytest.mark.parametrize("granularity", ["tensor", "global"])
def test_adadir_graft_has_sgds_norm_and_adams_direction(granularity):
    lr, grads_seq = 1e-2, grad_sequence(6)
    params = make_params()
    opt = ComposedOptimizer(params, Adam(), Graft(SGD()), granularity, lr=lr)
    for grads, ref in zip(grads_seq, adam_reference_deltas(grads_seq, lr)):
        delta = step_with(opt, params, grads)
        if granularity == "tensor":
            for n in SHAPES:
                assert delta[n].norm().item() == pytest.approx(lr * grads[n].norm().item(), rel=1e-4)
                assert cosine(delta[n], ref[n]) == pytest.approx(1.0, abs=1e-5)
        else:
            assert flat(delta.values()).norm().item() == pytest.approx(lr * flat(grads.values()).norm().item(),
                                                                       rel=1e-4)
            assert cosine(flat(delta.values()), flat(ref.values())) == pytest.approx(1.0, abs=1e-5)


def test_registry_adalr_and_adadir_are_the_per_tensor_grafts():
    lr, grads_seq = 1e-2, grad_sequence(4)
    pairs = {"adalr": (SGD(), Graft(Adam())), "adadir": (Adam(), Graft(SGD()))}
    for name, (direction, magnitude) in pairs.items():
        p1, p2 = make_params(), make_params()
        o1, o2 = build_optimizer(name, p1, lr=lr), ComposedOptimizer(p2, direction, magnitude, "tensor", lr=lr)
        for grads in grads_seq:
            step_with(o1, p1, grads), step_with(o2, p2, grads)
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(p1, p2)), name


def test_nsgda_layer_update_norm_is_lr_per_tensor():
    lr = 3e-3
    params = make_params(scale=0.01)
    opt = build_optimizer("nsgda_layer", params, lr=lr)
    for grads in grad_sequence(5):
        delta = step_with(opt, params, grads)
        for n in SHAPES:
            assert delta[n].norm().item() == pytest.approx(lr, rel=1e-4)
            assert cosine(delta[n], -grads[n]) == pytest.approx(1.0, abs=1e-6)
            assert opt.last_update_norms[n] == pytest.approx(lr, rel=1e-6)


def test_nsgda_global_total_update_norm_is_lr():
    lr = 3e-3
    params = make_params(scale=0.01)
    opt = build_optimizer("nsgda_global", params, lr=lr)
    for grads in grad_sequence(5):
        delta = step_with(opt, params, grads)
        assert flat(delta.values()).norm().item() == pytest.approx(lr, rel=1e-4)
        assert cosine(flat(delta.values()), -flat(grads.values())) == pytest.approx(1.0, abs=1e-6)
        assert delta["w"].norm().item() < 0.1 * lr  # the big "b" gradient takes almost all of it


@pytest.mark.parametrize("name", NAMES)
def test_last_norms_match_the_actual_update(name):
    lr = 1e-2
    params = make_params()
    opt = build_optimizer(name, params, lr=lr)
    assert opt.last_update_norms == {}
    for grads in grad_sequence(3):
        delta = step_with(opt, params, grads)
    assert set(opt.last_update_norms) == set(opt.last_direction_norms) == set(SHAPES)
    for n in SHAPES:
        assert opt.last_update_norms[n] == pytest.approx(delta[n].norm().item(), rel=1e-3)
    if OPTIMIZERS[name].magnitude.name == "same":
        for n in SHAPES:
            assert opt.last_update_norms[n] == pytest.approx(lr * opt.last_direction_norms[n], rel=1e-6)
    if name in ("sgda", "nsgda_layer", "nsgda_global", "adalr"):  # the raw direction is the gradient
        for n in SHAPES:
            assert opt.last_direction_norms[n] == pytest.approx(grads[n].norm().item(), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_zero_gradients_give_no_nan(name):
    params = make_params()
    start = [p.detach().clone() for _, p in params]
    opt = build_optimizer(name, params, lr=0.1)
    for _ in range(3):
        step_with(opt, params, {n: torch.zeros(s) for n, s in SHAPES.items()})
    assert all(torch.equal(p, s) for (_, p), s in zip(params, start))
    assert all(v == 0.0 for v in opt.last_update_norms.values())
    # one tensor without gradient signal, one with: the zero one stays put, nothing turns NaN
    delta = step_with(opt, params, {"w": torch.zeros(SHAPES["w"]), "b": torch.ones(SHAPES["b"])})
    assert torch.isfinite(flat(delta.values())).all()
    assert delta["b"].norm().item() > 0
    if OPTIMIZERS[name].granularity == "tensor":
        assert delta["w"].norm().item() == 0.0
    assert all(math.isfinite(v) for v in [*opt.last_update_norms.values(), *opt.last_direction_norms.values()])


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_bit_identically(name):
    grads_seq = grad_sequence(10)
    params = make_params()
    opt = build_optimizer(name, params, lr=1e-2)
    for grads in grads_seq[:5]:
        step_with(opt, params, grads)
    buffer = io.BytesIO()
    torch.save({"params": {n: p.detach().clone() for n, p in params}, "opt": opt.state_dict()}, buffer)
    for grads in grads_seq[5:]:
        step_with(opt, params, grads)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = make_params(seed=123)
    with torch.no_grad():
        for n, p in resumed:
            p.copy_(saved["params"][n])
    opt2 = build_optimizer(name, resumed, lr=0.5)  # lr comes back from the state dict
    opt2.load_state_dict(saved["opt"])
    for grads in grads_seq[5:]:
        step_with(opt2, resumed, grads)
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(params, resumed))
    assert opt2.last_update_norms == opt.last_update_norms


def test_lr_is_settable_by_a_torch_scheduler():
    params = make_params()
    opt = build_optimizer("nsgda_layer", params, lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    norms = []
    for grads in grad_sequence(3):
        delta = step_with(opt, params, grads)
        scheduler.step()
        norms.append(delta["w"].norm().item())
    assert norms == pytest.approx([0.1, 0.05, 0.025], rel=1e-4)


def test_negative_momentum_defaults_to_minus_half_and_is_heavy_ball():
    lr, grads_seq = 0.1, grad_sequence(3)
    params = make_params()
    opt = build_optimizer("negative_momentum", params, lr=lr)
    assert opt.param_groups[0]["momentum"] == -0.5
    deltas = [step_with(opt, params, g) for g in grads_seq]
    for prev, cur, g in zip(deltas, deltas[1:], grads_seq[1:]):  # x_{t+1}-x_t = -lr g_t + beta (x_t-x_{t-1})
        torch.testing.assert_close(cur["w"], -lr * g["w"] - 0.5 * prev["w"], rtol=1e-5, atol=1e-6)


def test_optimistic_is_two_current_minus_previous():
    lr, grads_seq = 0.1, grad_sequence(3)
    params = make_params()
    opt = build_optimizer("ogda", params, lr=lr)
    deltas = [step_with(opt, params, g) for g in grads_seq]
    torch.testing.assert_close(deltas[0]["b"], -lr * grads_seq[0]["b"])  # first step: plain
    for t in (1, 2):
        expected = -lr * (2 * grads_seq[t]["b"] - grads_seq[t - 1]["b"])
        torch.testing.assert_close(deltas[t]["b"], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call,fragment", [
    (lambda p: build_optimizer("adamw", p, lr=0.1), "adamw"),
    (lambda p: build_optimizer("adam", p, lr=0.1, beta1=0.5), "beta1"),
    (lambda p: build_optimizer("sgda", p, lr=0.1, momentum=0.9), "momentum"),
    (lambda p: build_optimizer("adam", p, lr=0.1, betas=(1.5, 0.9)), "betas"),
    (lambda p: build_optimizer("adalr", p, lr=0.1, betas=0.9), "betas"),
    (lambda p: build_optimizer("adam", p, lr=0.1, eps=-1.0), "eps"),
    (lambda p: build_optimizer("negative_momentum", p, lr=0.1, momentum=1.0), "momentum"),
    (lambda p: build_optimizer("sgda", p, lr=-0.1), "lr"),
    (lambda p: build_optimizer("sgda", p, lr=float("nan")), "lr"),
    (lambda p: ComposedOptimizer(p, SGD(), granularity="layer"), "layer"),
])
def test_bad_names_and_hyperparameters_raise_config_error_naming_them(call, fragment):
    with pytest.raises(ConfigError, match=fragment):
        call(make_params())


def test_hyperparameters_reach_the_param_group():
    opt = build_optimizer("adalr", make_params(), lr=0.1, betas=[0.5, 0.9], eps=1e-6)
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (0.1, (0.5, 0.9), 1e-6)
    assert set(OPTIMIZERS["adalr"].hparams) == {"betas", "eps"}


@pytest.mark.parametrize("name", NAMES)
def test_batched_optimizer_equals_one_optimizer_per_batch_index(name):
    """batch_dims=1: per-seed norms and step sizes, so a stacked problem moves as its slices do alone."""
    seeds, lrs = (0, 1, 2), [0.01, 0.05, 0.2]
    alone = [make_params(seed) for seed in seeds]
    stacked = [(n, torch.nn.Parameter(torch.stack([dict(ps)[n].detach() for ps in alone]))) for n in SHAPES]
    opts = [build_optimizer(name, ps, lr=lr) for ps, lr in zip(alone, lrs)]
    batched = build_optimizer(name, stacked, lr=torch.tensor(lrs), batch_dims=1)
    sequences = [grad_sequence(5, seed=10 + k) for k in range(len(seeds))]
    for t in range(5):
        for opt, ps, grads in zip(opts, alone, sequences):
            step_with(opt, ps, grads[t])
        step_with(batched, stacked, {n: torch.stack([g[t][n] for g in sequences]) for n in SHAPES})
        for k, (opt, ps) in enumerate(zip(opts, alone)):
            for n, p in ps:
                torch.testing.assert_close(dict(stacked)[n][k], p.detach(), rtol=1e-5, atol=1e-6)
            for norm_name in SHAPES:
                assert batched.last_update_norms[norm_name][k] == pytest.approx(
                    opt.last_update_norms[norm_name], rel=1e-5)
                assert batched.last_direction_norms[norm_name][k] == pytest.approx(
                    opt.last_direction_norms[norm_name], rel=1e-5)


@pytest.mark.parametrize("name", ["sgda", "adam", "adalr", "adadir", "nsgda_layer", "nsgda_global"])
def test_batch_dims_give_each_batch_index_its_own_optimizer(name):
    """composed_update with batch_dims=1 on stacked tensors == one registry optimizer per index,
    including a zero gradient for one index (its own zero-norm guard)."""
    from ganopt.optim import composed_update

    gen = torch.Generator().manual_seed(5)
    spec, lr, B = OPTIMIZERS[name], 0.03, 3
    params = [torch.randn(B, 4, 5, generator=gen, dtype=torch.float64), torch.randn(B, 2, generator=gen,
                                                                                   dtype=torch.float64)]
    refs = [[p[r].clone().requires_grad_() for p in params] for r in range(B)]
    opts = [build_optimizer(name, list(zip("Wb", ref)), lr) for ref in refs]
    dstates = [spec.direction.init(p) for p in params]
    mstates = [spec.magnitude.source.init(p) if spec.magnitude.source else None for p in params]
    group = {"lr": lr, **spec.hparams}
    for t in range(1, 5):
        grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in params]
        grads[0][1] = 0.0 if t == 2 else grads[0][1]
        composed_update(params, grads, dstates, mstates, [t, t], group, spec.direction, spec.magnitude,
                        spec.granularity, batch_dims=1)
        for r, (ref, opt) in enumerate(zip(refs, opts)):
            for p, g in zip(ref, grads):
                p.grad = g[r].clone()
            opt.step()
    for i, p in enumerate(params):
        torch.testing.assert_close(p, torch.stack([ref[i].detach() for ref in refs]), rtol=0, atol=1e-12)
