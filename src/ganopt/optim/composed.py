"""The torch shell around a composition of parts: one `torch.optim.Optimizer` for every variant."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from ganopt.errors import ConfigError
from ganopt.optim.directions import Direction, State, check_hparam
from ganopt.optim.magnitude import (
    GRANULARITIES,
    Magnitude,
    Same,
    reduce_norms,
    tensor_norms,
)


def composed_update(params: list[Tensor], grads: list[Tensor], direction_states: list[State],
                    magnitude_states: list[State], steps: list[int], group: dict[str, Any],
                    direction: Direction, magnitude: Magnitude, granularity: str,
                    batch_dims: int = 0) -> tuple[Tensor, Tensor]:
    """Apply x <- x - lr * scale * d in place to `params`; return the stacked per-tensor norms
    (||lr * scale * d||, ||d||) as device tensors, so reading them costs no sync here.
    `batch_dims` k > 0: the first k dims of every tensor index independent problems (seeds
    batched side by side); norms and scales are then per tensor and batch index, shape
    (n_tensors, *batch_shape), and "global" means over one batch index's tensors."""
    d = direction.update(grads, direction_states, steps, group)
    d_norms = tensor_norms(d, batch_dims)
    src_norms = None
    if magnitude.source is not None:
        src = magnitude.source.update(grads, magnitude_states, steps, group)
        src_norms = reduce_norms(tensor_norms(src, batch_dims), granularity)
    scale = magnitude.scale(reduce_norms(d_norms, granularity), src_norms)
    lr = group["lr"]
    if scale is None:
        torch._foreach_add_(params, d, alpha=-lr)
        return d_norms * lr, d_norms
    scales = list(scale.unbind())  # 0-d scales broadcast; batched ones get trailing unit dims
    if batch_dims:
        scales = [s.view(*s.shape, *[1] * (p.dim() - batch_dims)) for s, p in zip(scales, params)]
    torch._foreach_addcmul_(params, d, scales, value=-lr)
    return d_norms * scale * lr, d_norms


class ComposedOptimizer(torch.optim.Optimizer):
    r"""Descent with an update composed from parts (shared/design.md "Optimizers as parts"):

    .. math::  x_{t+1} = x_t - \eta \, s_t \, d_t, \qquad
               s_t = \begin{cases} 1 & \text{same} \\ 1/\|d_t\| & \text{constant} \\
               \|d^{src}_t\| / \|d_t\| & \text{graft(src)} \end{cases}

    per tensor or over all tensors of a param group (granularity), with s_t = 0 where
    ||d_t|| = 0. d is a stateful direction (sgd, momentum, adam, optimistic(...)); grafting
    follows Agarwal et al. 2020 (arXiv 2002.11803), as used for AdaLR/AdaDir in Paper A.
    Hyperparameters live in the param groups (like torch.optim.Adam), so schedulers work.
    After each step, `last_update_norms[name] = ||x_{t+1} - x_t||` and
    `last_direction_norms[name] = ||d_t||` per tensor name.
    """

    def __init__(self, params: Iterable[Any], direction: Direction, magnitude: Magnitude | None = None,
                 granularity: str = "tensor", lr: float = 1e-3, **hparams: Any):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0.0 <= lr < math.inf:
            raise ConfigError(f"Invalid learning rate (lr): {lr!r} (expected a finite number >= 0).")
        magnitude = magnitude if magnitude is not None else Same()
        if granularity not in GRANULARITIES:
            raise ConfigError(f"Unknown granularity {granularity!r} (expected one of {', '.join(GRANULARITIES)}).")
        accepted = {**direction.hparams, **magnitude.hparams}
        for name in hparams:
            if name not in accepted:
                takes = ", ".join(sorted(accepted)) or "none"
                raise ConfigError(f"Unknown optimizer hyperparameter {name!r} (this optimizer takes: {takes}).")
        defaults = {"lr": float(lr)}
        defaults.update({k: check_hparam(k, hparams.get(k, v)) for k, v in accepted.items()})
        super().__init__(params, defaults)
        self.direction = direction
        self.magnitude = magnitude
        self.granularity = granularity
        self._last: list[tuple[list[str], Tensor, Tensor]] = []
        self._last_read: tuple[dict[str, float], dict[str, float]] | None = None

    def _init_state(self, p: Tensor) -> State:
        state: State = {"step": 0, "direction": self.direction.init(p)}
        if self.magnitude.source is not None:
            state["magnitude"] = self.magnitude.source.init(p)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; `closure` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._last, self._last_read = [], None
        for gi, group in enumerate(self.param_groups):
            names = group.get("param_names") or [f"{gi}.{i}" for i in range(len(group["params"]))]
            params, grads, dstates, mstates, steps, used = [], [], [], [], [], []
            for name, p in zip(names, group["params"]):
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ConfigError(f"Parameter {name!r} has a sparse gradient, which is not supported.")
                state = self.state[p]
                if not state:
                    state.update(self._init_state(p))
                state["step"] += 1
                params.append(p)
                grads.append(p.grad)
                dstates.append(state["direction"])
                mstates.append(state.get("magnitude"))
                steps.append(state["step"])
                used.append(name)
            if params:
                update_norms, direction_norms = composed_update(
                    params, grads, dstates, mstates, steps, group,
                    self.direction, self.magnitude, self.granularity)
                self._last.append((used, update_norms, direction_norms))
        return loss

    def _read_norms(self) -> tuple[dict[str, float], dict[str, float]]:
        if self._last_read is None:
            updates: dict[str, float] = {}
            directions: dict[str, float] = {}
            for names, update_norms, direction_norms in self._last:
                u, d = torch.stack([update_norms, direction_norms]).tolist()  # one sync per group
                updates.update(zip(names, u))
                directions.update(zip(names, d))
            self._last_read = (updates, directions)
        return self._last_read

    @property
    def last_update_norms(self) -> dict[str, float]:
        """||actual parameter update|| of the last step, per tensor name."""
        return self._read_norms()[0]

    @property
    def last_direction_norms(self) -> dict[str, float]:
        """||raw direction d|| of the last step before the magnitude rule, per tensor name."""
        return self._read_norms()[1]
