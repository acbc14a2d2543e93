"""Magnitude rules and granularity, the second part of a composed optimizer.

An update is `lr * scale * d`. A magnitude rule picks `scale` from the direction's norm:
`same` keeps it (scale 1), `constant` normalizes it (1/||d||), `graft(src)` gives it another
direction's norm (||src||/||d||, Agarwal et al. 2020, arXiv 2002.11803). Granularity says
whether norms are per tensor (per layer) or over the whole player; with batch dims, every
index of the leading dims (a seed run side by side with others) has its own norms. Where ||d|| = 0 the scale
is 0 (the zero-norm guard of precondition's grafting), so a zero gradient never makes a NaN.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganopt.errors import ConfigError
from ganopt.optim.directions import Direction

GRANULARITIES = ("tensor", "global")


class Magnitude:
    """Rule mapping the direction's norms (and a source direction's norms) to scales."""

    name: str = ""
    source: Direction | None = None  # a direction whose norm is grafted, with its own state

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.source.hparams) if self.source is not None else {}

    def scale(self, d_norms: Tensor, src_norms: Tensor | None) -> Tensor | None:
        """Per-tensor scales from per-tensor norms (already reduced by granularity); None = 1."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Same(Magnitude):
    """Keep the direction's own norm (plain SGD, Adam, ...)."""

    name = "same"

    def scale(self, d_norms, src_norms):
        return None


class Constant(Magnitude):
    """Normalize the direction to norm 1 (nSGDA: lr is then the update's norm)."""

    name = "constant"

    def scale(self, d_norms, src_norms):
        return torch.where(d_norms > 0, d_norms.reciprocal(), torch.zeros_like(d_norms))


class Graft(Magnitude):
    """Take the norm of `source`, a direction that sees the same gradients and keeps its own state."""

    def __init__(self, source: Direction):
        self.source = source
        self.name = f"graft({source.name})"

    def scale(self, d_norms, src_norms):
        return torch.where(d_norms > 0, src_norms / d_norms, torch.zeros_like(d_norms))


def tensor_norms(tensors: list[Tensor], batch_dims: int = 0) -> Tensor:
    """Euclidean norm of each tensor, stacked: shape (n,). With `batch_dims` k, the first k dims
    of every tensor index independent problems (e.g. seeds run side by side) and each gets its own
    norm: shape (n, *batch_shape)."""
    if batch_dims == 0:
        return torch.stack(torch._foreach_norm(tensors))
    return torch.stack([t.reshape(*t.shape[:batch_dims], -1).norm(dim=-1) for t in tensors])


def reduce_norms(norms: Tensor, granularity: str) -> Tensor:
    """Per-tensor norms (n, *batch_shape) as they enter the rule: unchanged per tensor, or the
    player's global norm (sqrt of the sum of squares over the n tensors) repeated for every tensor."""
    if granularity == "tensor":
        return norms
    if granularity == "global":
        return torch.linalg.vector_norm(norms, dim=0).expand_as(norms)
    raise ConfigError(f"Unknown granularity {granularity!r} (expected one of {', '.join(GRANULARITIES)}).")

