"""Structured Gram J J^T of an MLP, layer by layer (the empirical NTK), without forming J.

For a linear layer with inputs a_i and backpropagated output signals delta_{i,o} (sample i,
output o), the Gram block is (<a_i, a_j> + 1[bias]) * <delta_{i,o}, delta_{j,o'}>: cost
O(n^2 k^2 (d_in + d_out)) per layer instead of O(n^2 k^2 d_in d_out) for a materialized J."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def supports_structured_gram(model: nn.Module) -> bool:
    """True for nn.Sequential whose only trainable layers are nn.Linear (others parameter-free)."""
    if not isinstance(model, nn.Sequential):
        return False
    return all(isinstance(m, nn.Linear) or not any(True for _ in m.parameters()) for m in model)


def _backprop(layer: Callable[[torch.Tensor], torch.Tensor], a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Signals (n, k, d_out) at a layer's output -> (n, k, d_in) at its input (rowwise layers):
    one autograd call on the input repeated k times (cheaper than vmapping a VJP)."""
    if isinstance(layer, nn.Linear):
        return delta @ layer.weight
    n, k, d_out = delta.shape
    with torch.enable_grad():
        inp = a.detach().unsqueeze(1).expand(n, k, a.shape[-1]).reshape(n * k, -1).requires_grad_()
        (grad,) = torch.autograd.grad(layer(inp), inp, delta.reshape(n * k, d_out))
    return grad.reshape(n, k, -1)


@torch.no_grad()
def sequential_gram(model: nn.Sequential, x: torch.Tensor,
                    head: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """J J^T (nk x nk, row = sample-major) of outputs head(model(x)) w.r.t. the Linear parameters."""
    layers: list[Callable[[torch.Tensor], torch.Tensor]] = list(model) + ([head] if head is not None else [])
    acts = [x]
    for layer in layers:
        acts.append(layer(acts[-1]))
    n, k = acts[-1].shape
    delta = torch.eye(k, dtype=x.dtype, device=x.device).expand(n, k, k)
    gram = torch.zeros(n * k, n * k, dtype=x.dtype, device=x.device)
    first_linear = next(i for i, m in enumerate(layers) if isinstance(m, nn.Linear))
    for i in range(len(layers) - 1, first_linear - 1, -1):
        layer, a = layers[i], acts[i]
        if isinstance(layer, nn.Linear):
            d = delta.reshape(n * k, -1)
            inner = a @ a.T + (1.0 if layer.bias is not None else 0.0)
            gram += torch.repeat_interleave(torch.repeat_interleave(inner, k, 0), k, 1) * (d @ d.T)
        if i > first_linear:
            delta = _backprop(layer, a, delta)
    return gram
