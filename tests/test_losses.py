"""GAN objectives against their textbook formulas, and the gradient penalty on a linear critic."""

import pytest
import torch

from ganopt.errors import ConfigError
from ganopt.gan.losses import LOSSES, get_loss, gradient_penalty

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.2, 1.5])


def test_logistic_losses_match_the_payoff():
    d_real, d_fake = torch.sigmoid(REAL), torch.sigmoid(FAKE)
    phi = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert torch.allclose(LOSSES["minimax"].d(REAL, FAKE), -phi)
    assert torch.allclose(LOSSES["nonsaturating"].d(REAL, FAKE), -phi)
    assert torch.allclose(LOSSES["minimax"].g(FAKE), torch.log(1 - d_fake).mean())
    assert torch.allclose(LOSSES["nonsaturating"].g(FAKE), -torch.log(d_fake).mean())


def test_saturating_generator_loss_vanishes_where_nonsaturating_does_not():
    fake = torch.tensor([-12.0], requires_grad=True)  # D confidently rejects the fake
    (g_sat,) = torch.autograd.grad(LOSSES["minimax"].g(fake), fake)
    (g_non,) = torch.autograd.grad(LOSSES["nonsaturating"].g(fake), fake)
    assert abs(g_sat.item()) < 1e-5 and abs(g_non.item() + 1) < 1e-5


def test_wasserstein_losses():
    loss = LOSSES["wgan_gp"]
    assert loss.penalty
    assert torch.allclose(loss.d(REAL, FAKE), FAKE.mean() - REAL.mean())
    assert torch.allclose(loss.g(FAKE), -FAKE.mean())


@pytest.mark.parametrize("name", list(LOSSES))
def test_batched_logits_give_one_loss_per_run(name):
    """(S, N) logits of S batched runs: each run's loss is the loss of its own row."""
    loss = LOSSES[name]
    real, fake = torch.stack([REAL, FAKE, 2 * REAL]), torch.stack([FAKE, REAL, -FAKE])
    assert torch.allclose(loss.d(real, fake), torch.stack([loss.d(r, f) for r, f in zip(real, fake)]))
    assert torch.allclose(loss.g(fake), torch.stack([loss.g(f) for f in fake]))


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||grad|| = 5 everywhere, so the penalty is (5 - 1)^2
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = gradient_penalty(lambda x: x @ w, real, fake, torch.rand(6))
    assert gp.item() == pytest.approx(16.0)


def test_gradient_penalty_reaches_critic_parameters():
    critic = torch.nn.Linear(2, 1)
    gp = gradient_penalty(lambda x: critic(x).reshape(-1), torch.randn(4, 2), torch.randn(4, 2), torch.rand(4))
    gp.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_unknown_loss():
    with pytest.raises(ConfigError, match="hinge"):
        get_loss("hinge")
