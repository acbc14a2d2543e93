"""Stateful descent directions, the first part of a composed optimizer (optax-style).

A direction turns one player's gradients into descent directions, tensor by tensor, and keeps
its own per-tensor state. It works on lists of tensors with `torch._foreach_*` ops so a step
costs a few fused passes, not a Python loop per element. Returned directions are read-only
(they may alias gradients or state); consumers scale them out of place.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ganopt.errors import ConfigError

State = dict[str, Any]


def _check_unit_interval(name: str, value: Any, low: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"Invalid {name}: {value!r} (expected a finite number {what}).")
    if not low <= value < 1.0:
        raise ConfigError(f"Invalid {name}: {value!r} (expected a number {what}).")
    return float(value)


def check_hparam(name: str, value: Any) -> Any:
    """Validate one hyperparameter by name and return it in canonical form."""
    if name == "betas":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"Invalid betas: {value!r} (expected two numbers [beta1, beta2]).")
        # beta1 may be negative: Adam with negative momentum (Gidel et al. 2019).
        return (_check_unit_interval("betas[0]", value[0], -1.0, "in [-1, 1)"),
                _check_unit_interval("betas[1]", value[1], 0.0, "in [0, 1)"))
    if name == "eps":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
            raise ConfigError(f"Invalid eps: {value!r} (expected a finite number >= 0).")
        return float(value)
    if name == "momentum":
        return _check_unit_interval("momentum", value, -1.0, "in [-1, 1); negative = negative momentum")
    raise ConfigError(f"Unknown optimizer hyperparameter {name!r}.")


class Direction:
    """A per-tensor descent direction with its own state; subclasses define the math."""

    name: str = ""
    hparams: dict[str, Any] = {}  # hyperparameters it reads from the param group, with defaults

    def init(self, p: Tensor) -> State:
        """Fresh state for parameter tensor `p` (created lazily on its first step)."""
        return {}

    def update(self, grads: list[Tensor], states: list[State], steps: list[int],
               group: dict[str, Any]) -> list[Tensor]:
        """Advance the states with `grads` (steps count from 1) and return the directions."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class SGD(Direction):
    """The raw gradient: d_t = g_t."""

    name = "sgd"

    def update(self, grads, states, steps, group):
        return grads


class Momentum(Direction):
    """Heavy ball in torch's form b_t = beta b_{t-1} + g_t, d_t = b_t. With a constant lr this is
    x_{t+1} = x_t - lr g_t + beta (x_t - x_{t-1}); beta < 0 is negative momentum (Gidel et al. 2019)."""

    name = "momentum"

    def __init__(self, beta: float = 0.9):
        self.hparams = {"momentum": check_hparam("momentum", beta)}

    def init(self, p):
        return {"momentum_buffer": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, grads, states, steps, group):
        bufs = [s["momentum_buffer"] for s in states]
        torch._foreach_mul_(bufs, group["momentum"])
        torch._foreach_add_(bufs, grads)
        return bufs


class Adam(Direction):
    """Adam's preconditioned direction m_hat / (sqrt(v_hat) + eps) with bias correction
    (Kingma & Ba 2015); `lr * d` is exactly torch.optim.Adam's step."""

    name = "adam"
    hparams = {"betas": (0.9, 0.999), "eps": 1e-8}

    def init(self, p):
        return {"exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, grads, states, steps, group):
        beta1, beta2 = group["betas"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        # d = m / ((1 - b1^t) (sqrt(v) / sqrt(1 - b2^t) + eps)), both corrections folded into
        # the denominator, which then becomes d in place (no second full-size allocation).
        bias1 = [1 - beta1**t for t in steps]
        d = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_mul_(d, [b / math.sqrt(1 - beta2**t) for b, t in zip(bias1, steps)])
        torch._foreach_add_(d, [b * group["eps"] for b in bias1])
        torch._foreach_reciprocal_(d)
        torch._foreach_mul_(d, exp_avgs)
        return d


class Optimistic(Direction):
    """Optimism around any direction: 2 d_t - d_{t-1} (Daskalakis et al. 2018; optax
    `scale_by_optimistic_gradient`). On a tensor's first step there is no d_{t-1}, so the step
    is plain (d_0 serves as d_{-1}) rather than doubled."""

    def __init__(self, inner: Direction):
        self.inner = inner
        self.name = f"optimistic({inner.name})"
        self.hparams = dict(inner.hparams)

    def init(self, p):
        return {**self.inner.init(p), "prev": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, grads, states, steps, group):
        current = self.inner.update(grads, states, steps, group)
        prevs = [s["prev"] for s in states]
        for prev, d, t in zip(prevs, current, steps):
            if t == 1:
                prev.copy_(d)
        out = torch._foreach_lerp(prevs, current, 2.0)  # prev + 2 (d - prev) = 2 d - prev
        torch._foreach_copy_(prevs, current)
        return out

