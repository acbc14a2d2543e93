"""Batched update directions of the toy's optimizers: every tensor carries R runs in dim 0, and
norms are taken per run. The math is that of ganopt.optim (per tensor there; a test checks the
two agree): SGDA uses g, nSGDA g / ||g|| per tensor (`nsgda_layer`) or over the player's tensors
(`nsgda_global`), 0 where ||g|| = 0, Adam the bias-corrected m_hat / (sqrt(v_hat) + eps)."""

from __future__ import annotations

import torch

from ganopt.errors import ConfigError
from ganopt.toy.config import TOY_OPTIMIZERS


def per_run(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-run vector (R,) to broadcast against a tensor (R, ...)."""
    return x.view(-1, *([1] * (like.dim() - 1)))


def run_norm(t: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each run's slice of t, shape (R,)."""
    return t.flatten(1).norm(dim=1)


def _inverse(norm: torch.Tensor) -> torch.Tensor:
    """1/norm, and 0 where the norm is 0 (the registry's zero-norm guard: no NaN, no step)."""
    return torch.where(norm > 0, norm.reciprocal(), torch.zeros_like(norm))


class Directions:
    """Stateful direction rule for both players; `__call__(player, grads, step)` maps a player's
    gradients (list of (R, ...) tensors) to its update directions (scaled later by the lr)."""

    def __init__(self, name: str, betas: tuple[float, float], adam_eps: float) -> None:
        if name not in TOY_OPTIMIZERS:
            raise ConfigError(f"toy optimizer '{name}' is not one of {', '.join(TOY_OPTIMIZERS)}")
        self.name, self.betas, self.adam_eps = name, betas, adam_eps
        self.moments: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def __call__(self, player: str, grads: list[torch.Tensor], step: int) -> list[torch.Tensor]:
        if self.name == "sgda":
            return grads
        if self.name == "nsgda_layer":
            return [g * per_run(_inverse(run_norm(g)), g) for g in grads]
        if self.name == "nsgda_global":
            scale = _inverse(torch.stack([run_norm(g) for g in grads]).square().sum(0).sqrt())
            return [g * per_run(scale, g) for g in grads]
        return self._adam(player, grads, step)

    def _adam(self, player: str, grads: list[torch.Tensor], step: int) -> list[torch.Tensor]:
        """Adam at 1-based step `step`: m, v moving averages, bias-corrected."""
        b1, b2 = self.betas
        state = self.moments.get(player) or [(torch.zeros_like(g), torch.zeros_like(g)) for g in grads]
        out, new_state = [], []
        for g, (m, v) in zip(grads, state):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1**step), v / (1 - b2**step)
            out.append(m_hat / (v_hat.sqrt() + self.adam_eps))
            new_state.append((m, v))
        self.moments[player] = new_state
        return out
