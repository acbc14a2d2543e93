"""S one-seed nets of one architecture as one batched net (an ordinary nn.Module: no vmap, so
torch.compile and CUDA graphs see plain kernels).

Every parameter and buffer keeps its one-seed name and shape behind a leading seed dim S, so seed
k's slice (`slice_tree`) loads into a one-seed net and the optimizers' per-tensor norms stay per
seed (`batch_dims=1`). Layers become their batched counterparts module by module: Linear a batched
matmul; Conv2d and ConvTranspose2d one grouped convolution (groups = S, the stacked weights viewed
in the grouped layout); BatchNorm2d one batch norm over S*C channels whose weights and running
statistics are views of (S, C) tensors, so each seed's statistics stay its own; custom blocks
(ResBlock) are copied with their children batched; activations are shared.

Tensors travel in one of two layouts: `samples` (S, N, *one-sample shape), which G returns and D
takes, and `grouped` (N, S*C, H, W), seed s's channels at [s*C, (s+1)*C), in which image layers run
unchanged (interpolate, pooling, activations). The stacker inserts the conversion where a layer
needs the other layout."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganopt.errors import ConfigError
from ganopt.gan.nets import Discriminator, Generator

SAMPLES, GROUPED = "samples", "grouped"
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Identity)


def _stacked(tensors: list[torch.Tensor], parameter: bool) -> torch.Tensor:
    data = torch.stack([t.detach() for t in tensors])
    return nn.Parameter(data) if parameter else data


class BatchedLinear(nn.Module):
    """S Linear layers: x (S, N, in) -> (S, N, out); weight (S, out, in), bias (S, out)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = _stacked([layer.weight for layer in layers], True)
        self.bias = _stacked([layer.bias for layer in layers], True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class BatchedConv(nn.Module):
    """S Conv2d or ConvTranspose2d layers as one grouped convolution on the grouped layout; weight
    (S, *one-seed weight shape), bias (S, C_out)."""

    def __init__(self, layers: list[nn.Conv2d | nn.ConvTranspose2d]) -> None:
        super().__init__()
        first = layers[0]
        if first.padding_mode != "zeros" or first.bias is None:
            raise ConfigError(f"{type(first).__name__} with padding_mode {first.padding_mode} or no bias cannot be batched")
        self.transposed = isinstance(first, nn.ConvTranspose2d)
        self.seeds, self.groups = len(layers), first.groups
        self.options = {"stride": first.stride, "padding": first.padding, "dilation": first.dilation}
        if self.transposed:
            self.options["output_padding"] = first.output_padding
        self.weight = _stacked([layer.weight for layer in layers], True)
        self.bias = _stacked([layer.bias for layer in layers], True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias, groups = self.weight.flatten(0, 1), self.bias.flatten(), self.seeds * self.groups
        if self.transposed:
            return F.conv_transpose2d(x, weight, bias, groups=groups, **self.options)
        return F.conv2d(x, weight, bias, groups=groups, **self.options)


class BatchedBatchNorm2d(nn.Module):
    """S BatchNorm2d layers as one batch norm over the S*C channels of the grouped layout: weight,
    bias and running statistics (S, C), updated in place through their flat views."""

    def __init__(self, layers: list[nn.BatchNorm2d]) -> None:
        super().__init__()
        first = layers[0]
        if first.momentum is None or not first.affine or not first.track_running_stats:
            raise ConfigError("only affine BatchNorm2d with running statistics and a momentum can be batched")
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = _stacked([layer.weight for layer in layers], True)
        self.bias = _stacked([layer.bias for layer in layers], True)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, _stacked([getattr(layer, name) for layer in layers], False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)  # as nn.BatchNorm2d counts (unused with a fixed momentum)
        return F.batch_norm(x, self.running_mean.view(-1), self.running_var.view(-1), self.weight.flatten(),
                            self.bias.flatten(), self.training, self.momentum, self.eps)


def to_layout(x: torch.Tensor, layout: str | None, seeds: int) -> torch.Tensor:
    """x converted into `layout` from the other one (None: left as it is): samples (S, N, C, H, W)
    <-> grouped (N, S*C, H, W)."""
    if layout == GROUPED:
        return x.transpose(0, 1).flatten(1, 2)
    if layout == SAMPLES:
        return x.unflatten(1, (seeds, -1)).transpose(0, 1)
    return x


class BatchedSequential(nn.Sequential):
    """A one-seed Sequential's layers batched, at the same indices (so parameter names are kept),
    with a layout conversion before a layer (`converts`) and after the last where one is needed."""

    def __init__(self, layers: list[nn.Module], converts: list[str | None], last: str | None, seeds: int) -> None:
        super().__init__(*layers)
        self.converts, self.last, self.seeds = converts, last, seeds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layout, layer in zip(self.converts, self):
            x = layer(to_layout(x, layout, self.seeds))
        return to_layout(x, self.last, self.seeds)


def _stack(modules: list[nn.Module]) -> tuple[nn.Module, str | None, str | None]:
    """The batched module of S one-seed modules, with the layouts it takes and gives (None: any)."""
    first = modules[0]
    if any(type(m) is not type(first) for m in modules):
        raise ConfigError("the nets of a batch differ in architecture")
    if isinstance(first, nn.Sequential):
        return _stack_sequential([list(m) for m in modules])
    if isinstance(first, nn.Linear):
        return BatchedLinear(modules), SAMPLES, SAMPLES
    if isinstance(first, (nn.Conv2d, nn.ConvTranspose2d)):
        return BatchedConv(modules), GROUPED, GROUPED
    if isinstance(first, nn.BatchNorm2d):
        return BatchedBatchNorm2d(modules), GROUPED, GROUPED
    if isinstance(first, nn.Flatten):
        return nn.Flatten(first.start_dim + 1, first.end_dim), SAMPLES, SAMPLES
    if isinstance(first, nn.Unflatten):
        return nn.Unflatten(first.dim + 1, first.unflattened_size), SAMPLES, SAMPLES
    if isinstance(first, nn.AdaptiveAvgPool2d):
        return copy.deepcopy(first), GROUPED, GROUPED
    if isinstance(first, ELEMENTWISE):
        return copy.deepcopy(first), None, None
    children = dict(first.named_children())
    if children and not list(first.named_parameters(recurse=False)) and not list(first.named_buffers(recurse=False)):
        block = copy.deepcopy(first)  # a custom image block (ResBlock): its forward, with batched children
        for name in children:
            setattr(block, name, _stack([getattr(m, name) for m in modules])[0])
        return block, GROUPED, GROUPED
    raise ConfigError(f"layer {type(first).__name__} cannot be batched over seeds")


def _stack_sequential(layers: list[list[nn.Module]], have: str | None = None,
                      want: str | None = None) -> tuple[BatchedSequential, str | None, str | None]:
    """The batched layers in order; a layer that needs the other layout than the one before gives
    gets a conversion. `have`: the input's layout (None: whatever the first layer takes); `want`: the
    output's (None: whatever the last layer gives)."""
    out, converts, takes = [], [], None
    for group in zip(*layers):
        module, needs, gives = _stack(list(group))
        converts.append(needs if needs is not None and have is not None and needs != have else None)
        if needs is not None:
            takes = takes or (have or needs)
            have = gives
        out.append(module)
    last = want if want is not None and have is not None and want != have else None
    return BatchedSequential(out, converts, last, len(layers)), takes, want or have


class BatchedDiscriminator(Discriminator):
    """S discriminators: (S, N, ...) -> (S, N) logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


def stack_pair(Gs: list[Generator], Ds: list[Discriminator]) -> tuple[Generator, BatchedDiscriminator]:
    """One batched G ((S, N, z_dim) -> (S, N, *sample shape)) and D ((S, N, *sample shape) -> (S, N))
    from S one-seed pairs of one architecture."""
    def body(nets: list[nn.Module]) -> BatchedSequential:
        return _stack_sequential([list(net.body) for net in nets], SAMPLES, SAMPLES)[0]

    return Generator(body(Gs), Gs[0].z_dim), BatchedDiscriminator(body(Ds))


def slice_tree(tree: Any, k: int) -> Any:
    """Seed k's part of a (nested) state: every tensor is indexed by k, everything else is kept."""
    if isinstance(tree, torch.Tensor):
        return tree[k].clone()
    if isinstance(tree, dict):
        return {key: slice_tree(value, k) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(slice_tree(value, k) for value in tree)
    return tree


def stack_trees(trees: list[Any]) -> Any:
    """Inverse of slice_tree: tensors are stacked along a new first dim, the rest taken from the first."""
    first = trees[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(trees)
    if isinstance(first, dict):
        return {key: stack_trees([t[key] for t in trees]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(stack_trees(list(values)) for values in zip(*trees))
    return first
