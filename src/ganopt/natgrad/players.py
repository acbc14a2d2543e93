"""Batched one-point players: B independent copies of head(net(c)) at a fixed input c, one
game per row, so a grid of settings x initializations runs as one vectorized game. Outputs and
Jacobians come together from one forward/backward pass written out for the two nets used here:
a tanh MLP (J of a linear layer = backpropagated signal (x) its input) and the scalar cubic map."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ganopt.errors import ConfigError
from ganopt.natgrad.jacobian import DenseJacobian, flat_params


def _softmax(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = torch.softmax(y, dim=-1)
    return f, torch.diag_embed(f) - f.unsqueeze(-1) * f.unsqueeze(-2)


def _sigmoid(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = torch.sigmoid(y)  # slope as s(y) s(-y): f (1 - f) rounds to 0 once f rounds to 1
    return f, torch.diag_embed(f * torch.sigmoid(-y))


# head name -> y (B, k) -> (outputs (B, k), per-game output Jacobian dF/dy (B, k, k))
HEADS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    "softmax": _softmax,
    "sigmoid": _sigmoid,
}


class Cubic(nn.Module):
    """The scalar nonlinear map theta -> theta^3 + theta (the warm-up's hand-made parametrization)."""

    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.randn(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.theta ** 3 + self.theta)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with tanh between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class Ensemble:
    """B copies of a player: `sizes` = tanh-MLP widths, or None for the cubic map (input 1,
    output 1). Parameters live in a (B, P) tensor, in nn.Module parameter order."""

    def __init__(self, sizes: list[int] | None, x: torch.Tensor, head: str, seeds: list[int],
                 init_scale: float = 1.0, dtype: torch.dtype = torch.float64) -> None:
        if head not in HEADS:
            raise ConfigError(f"player head '{head}' is not one of {', '.join(HEADS)}")
        self.sizes = sizes
        self.head = HEADS[head]
        self.x = x.to(dtype).reshape(-1)
        inits = []
        for seed in seeds:
            torch.manual_seed(seed)
            inits.append(flat_params((mlp(sizes) if sizes else Cubic()).to(dtype)) * init_scale)
        self.theta0 = torch.stack(inits).to(self.x.device)

    def module(self) -> nn.Module:
        """A torch module of the same architecture (to check the hand-written Jacobian)."""
        return mlp(self.sizes) if self.sizes else Cubic()

    def forward(self, theta: torch.Tensor) -> tuple[torch.Tensor, DenseJacobian]:
        """Outputs (B, k) and Jacobians (B, k, P) of every copy."""
        if not self.sizes:
            y = self.x * (theta ** 3 + theta)
            out, h = self.head(y)
            return out, DenseJacobian(h @ (self.x * (3 * theta ** 2 + 1)).unsqueeze(-1))
        weights, acts, offset = [], [self.x.expand(theta.shape[0], -1)], 0
        for i, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w = theta[:, offset:offset + d_in * d_out].view(-1, d_out, d_in)
            b = theta[:, offset + d_in * d_out:offset + d_in * d_out + d_out]
            offset += d_in * d_out + d_out
            pre = torch.einsum("boi,bi->bo", w, acts[-1]) + b
            weights.append(w)
            acts.append(torch.tanh(pre) if i < len(self.sizes) - 2 else pre)
        out, delta = self.head(acts[-1])
        blocks: list[torch.Tensor] = []
        for i in range(len(weights) - 1, -1, -1):
            a = acts[i]
            blocks = [(delta.unsqueeze(-1) * a[:, None, None, :]).flatten(2), delta] + blocks
            if i > 0:
                delta = (delta @ weights[i]) * (1 - a ** 2).unsqueeze(1)
        return out, DenseJacobian(torch.cat(blocks, dim=-1))
