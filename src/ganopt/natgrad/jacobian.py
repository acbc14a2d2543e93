"""Jacobians of a player's outputs w.r.t. its flat parameters, as the operators solvers need.

`Jacobian` offers J v, J^T u, the Gram J J^T and the dense J; `DenseJacobian` wraps an explicit
(batched) matrix, `ModelJacobian` a torch module evaluated on fixed inputs (products through
torch.func, the Gram layer by layer when the module is a plain MLP)."""

from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp

from ganopt.natgrad.gram import sequential_gram, supports_structured_gram

Head = Callable[[torch.Tensor], torch.Tensor]


class Jacobian(Protocol):
    """J of shape (..., nk, P): outputs flattened sample-major, parameters flat."""

    n_out: int
    n_params: int

    def mv(self, v: torch.Tensor) -> torch.Tensor: ...
    def rmv(self, u: torch.Tensor) -> torch.Tensor: ...
    def gram(self) -> torch.Tensor: ...
    def dense(self) -> torch.Tensor: ...


class DenseJacobian:
    """An explicit Jacobian, optionally batched over leading dimensions (one game per row)."""

    def __init__(self, J: torch.Tensor) -> None:
        self.J = J
        self.n_out, self.n_params = J.shape[-2:]

    def mv(self, v: torch.Tensor) -> torch.Tensor:
        return (self.J @ v.unsqueeze(-1)).squeeze(-1)

    def rmv(self, u: torch.Tensor) -> torch.Tensor:
        return (u.unsqueeze(-2) @ self.J).squeeze(-2)

    def gram(self) -> torch.Tensor:
        return self.J @ self.J.transpose(-1, -2)

    def dense(self) -> torch.Tensor:
        return self.J


def flat_params(model: nn.Module) -> torch.Tensor:
    """The trainable parameters of `model` as one detached vector (named_parameters order)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


@torch.no_grad()
def add_to_params(model: nn.Module, step: torch.Tensor) -> None:
    """theta <- theta + step for a flat step in flat_params order."""
    offset = 0
    for p in model.parameters():
        if p.requires_grad:
            p.add_(step[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


class ModelJacobian:
    """J of head(model(x)) (shape (n, k), flattened) w.r.t. the model's trainable parameters."""

    def __init__(self, model: nn.Module, x: torch.Tensor, head: Head | None = None,
                 structured: bool = True) -> None:
        self.model, self.x, self.head = model, x, head
        self._names = [n for n, p in model.named_parameters() if p.requires_grad]
        self._shapes = [p.shape for p in model.parameters() if p.requires_grad]
        self._theta = flat_params(model)
        self.n_params = self._theta.numel()
        self.structured = structured and supports_structured_gram(model)
        out, self._pull = vjp(self._outputs, self._theta)
        self.outputs = out.detach()
        self.n_out = out.numel()

    def _outputs(self, theta: torch.Tensor) -> torch.Tensor:
        sizes = [s.numel() for s in self._shapes]
        params = {n: t.view(s) for n, t, s in zip(self._names, theta.split(sizes), self._shapes)}
        y = functional_call(self.model, params, (self.x,))
        return (self.head(y) if self.head is not None else y).reshape(-1)

    def mv(self, v: torch.Tensor) -> torch.Tensor:
        return jvp(self._outputs, (self._theta,), (v,))[1].detach()

    def rmv(self, u: torch.Tensor) -> torch.Tensor:
        return self._pull(u)[0].detach()

    def gram(self) -> torch.Tensor:
        if self.structured:
            return sequential_gram(self.model, self.x, self.head)
        J = self.dense()
        return J @ J.T

    def dense(self) -> torch.Tensor:
        return jacrev(self._outputs)(self._theta).detach()
