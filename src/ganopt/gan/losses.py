"""GAN objectives as pure functions of discriminator logits; each returns the loss its player MINIMIZES,
averaged over the last dim: logits (N,) give one loss, the (S, N) logits of S batched runs one per run.

With D(x) = sigmoid(l(x)) the talk's payoff is phi = E log D(x) + E log(1 - D(G(z))); since
log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l), D minimizes
-phi = E softplus(-l_real) + E softplus(l_fake) and the saturating G minimizes
E log(1 - D(G(z))) = -E softplus(l_fake)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

from ganopt.errors import ConfigError


def d_logistic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-phi: binary cross-entropy of D with real = 1, fake = 0."""
    return F.softplus(-real).mean(-1) + F.softplus(fake).mean(-1)


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    """The talk's saturating generator loss E log(1 - D(G(z)))."""
    return -F.softplus(fake).mean(-1)


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al.'s non-saturating variant -E log D(G(z))."""
    return F.softplus(-fake).mean(-1)


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The critic's WGAN loss E f(G(z)) - E f(x) (penalty added separately)."""
    return fake.mean(-1) - real.mean(-1)


def g_wasserstein(fake: torch.Tensor) -> torch.Tensor:
    """The generator's WGAN loss -E f(G(z))."""
    return -fake.mean(-1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor, batch_dims: int = 0) -> torch.Tensor:
    """Gulrajani et al.'s E (||grad_x f(x_hat)|| - 1)^2 at x_hat = alpha real + (1 - alpha) fake.

    `alpha` holds one mixing weight per sample (shape (N,)), drawn by the caller so that the
    caller's generator keeps the run deterministic. With `batch_dims` k > 0 (runs stacked as one
    batched critic) samples are (*batch, N, ...), alpha is (*batch, N) and the result (*batch)."""
    alpha = alpha.reshape(*alpha.shape, *([1] * (real.dim() - alpha.dim())))
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(batch_dims + 1).norm(dim=-1) - 1) ** 2).mean(dim=-1)


@dataclass(frozen=True)
class GanLoss:
    """One objective: D's and G's losses of the logits, and whether D adds a gradient penalty."""

    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    penalty: bool = False


LOSSES: dict[str, GanLoss] = {
    "minimax": GanLoss(d_logistic, g_minimax),
    "nonsaturating": GanLoss(d_logistic, g_nonsaturating),
    "wgan_gp": GanLoss(d_wasserstein, g_wasserstein, penalty=True),
}


def get_loss(name: str) -> GanLoss:
    """The registry entry `name`, or a ConfigError listing the known objectives."""
    if name not in LOSSES:
        raise ConfigError(f"unknown GAN loss '{name}' (known: {', '.join(LOSSES)})")
    return LOSSES[name]
