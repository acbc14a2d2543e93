"""A registry optimizer (ganopt.optim: direction x magnitude x granularity) over one player's
batched toy tensors: dim 0 indexes the runs (settings x seeds), each run with its own norms and
state, through ganopt.optim's functional core (`composed_update` with batch_dims=1)."""

from __future__ import annotations

from typing import Any

import torch

from ganopt.errors import ConfigError
from ganopt.optim import OPTIMIZERS, composed_update
from ganopt.optim.directions import check_hparam


class BatchedPlayer:
    """One player's parameters (tensors of shape (R, ...)) stepped by the registry optimizer `name`
    with step size `lr` (a number, or one per run: shape (R,)); `step(grads)` descends along the
    gradients of the player's loss."""

    def __init__(self, name: str, params: list[torch.Tensor], lr: float | torch.Tensor, **hparams: Any) -> None:
        if name not in OPTIMIZERS:
            raise ConfigError(f"toy optimizer '{name}' is not one of {', '.join(OPTIMIZERS)}")
        self.spec = OPTIMIZERS[name]
        accepted = self.spec.hparams
        self.group = {"lr": lr, **{k: check_hparam(k, hparams.get(k, v)) for k, v in accepted.items()}}
        self.params = params
        self.direction_states = [self.spec.direction.init(p) for p in params]
        source = self.spec.magnitude.source
        self.magnitude_states = [source.init(p) if source is not None else None for p in params]
        self.steps = 0

    def step(self, grads: list[torch.Tensor]) -> None:
        """x <- x - lr * scale * d(grads), in place, every run with its own norms."""
        self.steps += 1
        composed_update(self.params, grads, self.direction_states, self.magnitude_states,
                        [self.steps] * len(self.params), self.group, self.spec.direction, self.spec.magnitude,
                        self.spec.granularity, batch_dims=1)
