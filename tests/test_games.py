"""Game schemes on the bilinear game min_x max_y x*y and on decoupled quadratics."""

import copy

import pytest
import torch

from ganopt.errors import ConfigError
from ganopt.optim import GAME_SCHEMES, OPTIMIZERS, Game, build_optimizer


def bilinear(name: str, lr: float, scheme: str | None = None, n_dis: int = 1, **hparams):
    """G owns x and minimizes x*y; D owns y and minimizes -x*y. Start at (1, 1)."""
    x, y = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    game = Game(scheme or OPTIMIZERS[name].scheme or "simultaneous", build_optimizer(name, [("x", x)], lr, **hparams),
                build_optimizer(name, [("y", y)], lr, **hparams), n_dis)
    return game, x, y, (lambda: -(x * y).sum()), (lambda: (x * y).sum())


def distance_after(steps: int, *args, **kwargs) -> float:
    game, x, y, d_loss, g_loss = bilinear(*args, **kwargs)
    for _ in range(steps):
        game.step(d_loss, g_loss)
    return torch.cat([x, y]).norm().item() / 2**0.5


def test_simultaneous_gda_spirals_out():
    assert distance_after(200, "sgda", lr=0.1, scheme="simultaneous") > 2.5  # (1 + lr^2)^(steps/2) = 2.7


@pytest.mark.parametrize("name,lr", [("extra_sgd", 0.3), ("ogda", 0.2), ("negative_momentum", 0.4)])
def test_principled_methods_converge_on_the_bilinear_game(name, lr):
    assert distance_after(300, name, lr=lr) < 1e-2


def test_extra_adam_ends_much_nearer_the_equilibrium_than_adam():
    # beta1 = 0: Adam's positive momentum alone makes both spiral out on this game
    adam = distance_after(300, "adam", lr=0.05, scheme="simultaneous", betas=(0.0, 0.9))
    assert distance_after(300, "extra_adam", lr=0.05, betas=(0.0, 0.9)) < 0.25 * adam


def test_alternating_gda_neither_spirals_out_nor_converges():
    assert 0.5 < distance_after(300, "sgda", lr=0.1, scheme="alternating") < 2.0


def test_extragradient_updates_from_the_saved_point_with_the_extrapolated_gradient():
    lr = 0.3
    game, x, y, d_loss, g_loss = bilinear("extra_sgd", lr=lr)
    out = game.step(d_loss, g_loss)
    x_half, y_half = 1 - lr * 1, 1 + lr * 1  # dL_G/dx = y, dL_D/dy = -x, both at (1, 1)
    assert (x.item(), y.item()) == pytest.approx((1 - lr * y_half, 1 + lr * x_half))
    assert out == pytest.approx({"loss/D": -1.0, "loss/G": 1.0, "grad_norm/D": 1.0, "grad_norm/G": 1.0})


def test_extra_adam_feeds_both_gradients_to_the_moments():
    game, x, y, d_loss, g_loss = bilinear("extra_adam", lr=0.1)
    game.step(d_loss, g_loss)
    for opt, p in ((game.opt_g, x), (game.opt_d, y)):
        assert opt.state[p]["step"] == 2
    # the first moment is (1-b1)*(b1*g_0 + g_1/2...): check against the two gradients directly
    g0, g1 = 1.0, 1 - 0.1  # dL_G/dx = y at y=1, then at y_half = 1 + 0.1 * 1 ... sign: y moves up
    b1 = 0.9
    assert game.opt_g.state[x]["direction"]["exp_avg"].item() == pytest.approx((1 - b1) * (b1 * g0 + 1.1))
    assert g1 != 1.1  # (documentation of the arithmetic above: y_half = 1.1, so g_1 = 1.1)


def test_alternating_generator_sees_the_updated_discriminator_and_n_dis_is_respected():
    lr, n_dis = 0.1, 3
    game, x, y, d_loss, g_loss = bilinear("sgda", lr=lr, scheme="alternating", n_dis=n_dis)
    calls, seen_by_g = [], []

    def d_counted():
        calls.append("D")
        return d_loss()

    def g_recording():
        calls.append("G")
        seen_by_g.append(y.item())
        return g_loss()

    game.step(d_counted, g_recording)
    assert calls == ["D"] * n_dis + ["G"]
    assert seen_by_g == [pytest.approx(1 + n_dis * lr)]  # x stays 1 during D's steps: y += lr each time
    assert x.item() == pytest.approx(1 - lr * (1 + n_dis * lr))


def test_simultaneous_evaluates_both_players_at_the_same_point():
    lr = 0.1
    game, x, y, d_loss, g_loss = bilinear("sgda", lr=lr, scheme="simultaneous", n_dis=2)
    calls, seen_by_g = [], []
    game.step(lambda: (calls.append("D"), d_loss())[1],
              lambda: (calls.append("G"), seen_by_g.append(y.item()), g_loss())[2])
    assert calls == ["D", "D", "G"]
    assert seen_by_g == [pytest.approx(1 + lr)]  # after the one D-only step, before the joint one
    assert (x.item(), y.item()) == pytest.approx((1 - lr * (1 + lr), 1 + 2 * lr))


def test_each_player_gets_gradients_of_its_own_parameters_only():
    game, x, y, d_loss, g_loss = bilinear("sgda", lr=0.1, scheme="alternating")
    game.step(d_loss, g_loss)
    # y's last gradient is from D's loss (-x), not G's (+x): G's evaluation must not touch y
    assert y.grad.item() == pytest.approx(-1.0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_with_its_scheme_decreases_decoupled_quadratics(name):
    torch.manual_seed(0)
    g_param, d_param = torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(5) + 3)
    scheme = OPTIMIZERS[name].scheme or "simultaneous"
    game = Game(scheme, build_optimizer(name, [("g", g_param)], lr=0.05),
                build_optimizer(name, [("d", d_param)], lr=0.05), n_dis=2)
    d_loss, g_loss = (lambda: d_param.pow(2).sum()), (lambda: g_param.pow(2).sum())
    first = game.step(d_loss, g_loss)
    for _ in range(150):
        last = game.step(d_loss, g_loss)
    assert last["loss/D"] < 0.05 * first["loss/D"] and last["loss/G"] < 0.05 * first["loss/G"]


def test_game_state_dict_round_trip_resumes_bit_identically():
    game, x, y, d_loss, g_loss = bilinear("optimistic_adam", lr=0.05)
    for _ in range(5):
        game.step(d_loss, g_loss)
    saved, point = copy.deepcopy(game.state_dict()), (x.detach().clone(), y.detach().clone())
    for _ in range(5):
        game.step(d_loss, g_loss)
    end = (x.detach().clone(), y.detach().clone())

    game2, x2, y2, d_loss2, g_loss2 = bilinear("optimistic_adam", lr=0.05)
    with torch.no_grad():
        x2.copy_(point[0]), y2.copy_(point[1])
    game2.load_state_dict(saved)
    for _ in range(5):
        game2.step(d_loss2, g_loss2)
    assert torch.equal(x2, end[0]) and torch.equal(y2, end[1])


def test_bad_scheme_n_dis_or_checkpoint_raise_config_error():
    game, *_ = bilinear("sgda", lr=0.1)
    with pytest.raises(ConfigError, match="optimistic"):
        Game("optimistic", game.opt_g, game.opt_d)
    with pytest.raises(ConfigError, match="n_dis"):
        Game("alternating", game.opt_g, game.opt_d, n_dis=0)
    other = Game("alternating", game.opt_g, game.opt_d, n_dis=5)
    with pytest.raises(ConfigError, match="alternating"):
        game.load_state_dict(other.state_dict())
    assert set(GAME_SCHEMES) == {"simultaneous", "alternating", "extragradient"}
