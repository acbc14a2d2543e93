"""Generator/discriminator pairs: MLPs (2-D mixtures, small images), a small DCGAN (8-32 px)
and the ResNet WGAN-GP pair of Gulrajani et al. 2017 (CIFAR-10, 32 px).

Every generator maps z ~ N(0, I) of size `z_dim` to a sample shaped like the data (points
(N, 2) or images (N, C, H, W) in [-1, 1]); every discriminator returns one logit per sample."""

from __future__ import annotations

from math import prod

import torch
from torch import nn
from torch.nn import functional as F

from ganopt.errors import ConfigError
from ganopt.gan.netconfig import NetConfig


class Generator(nn.Module):
    """A body mapping z to data, plus the latent size `z_dim` that `sample` needs."""

    def __init__(self, body: nn.Module, z_dim: int) -> None:
        super().__init__()
        self.body = body
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class Discriminator(nn.Module):
    """A body mapping data to (N, 1) logits, flattened to (N,)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).reshape(-1)


def _mlp(sizes: list[int], act: type[nn.Module]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return layers


def mlp_pair(cfg: NetConfig, shape: tuple[int, ...]) -> tuple[Generator, Discriminator]:
    """ReLU MLP generator (tanh output for images), LeakyReLU MLP discriminator."""
    dim, hidden = prod(shape), [cfg.width] * cfg.depth
    g_layers = _mlp([cfg.z_dim, *hidden, dim], nn.ReLU)
    if len(shape) == 3:
        g_layers += [nn.Tanh(), nn.Unflatten(1, shape)]
    d_layers = [nn.Flatten()] + _mlp([dim, *hidden, 1], lambda: nn.LeakyReLU(0.2))
    return Generator(nn.Sequential(*g_layers), cfg.z_dim), Discriminator(nn.Sequential(*d_layers))


def _dcgan_plan(size: int) -> tuple[int, int]:
    """(start resolution, number of 2x up/down-samplings) for a DCGAN of `size` px."""
    plans = {8: (4, 1), 16: (4, 2), 28: (7, 2), 32: (4, 3)}
    if size not in plans:
        raise ConfigError(f"the dcgan architecture supports images of {sorted(plans)} px, got {size}")
    return plans[size]


def dcgan_pair(cfg: NetConfig, shape: tuple[int, ...]) -> tuple[Generator, Discriminator]:
    """DCGAN (Radford et al. 2016): strided transposed convs with BatchNorm in G; strided convs
    with LeakyReLU and no normalization in D (so it also suits the gradient penalty)."""
    channels, size = shape[0], shape[-1]
    start, n_up = _dcgan_plan(size)
    widths = [cfg.width * 2 ** (n_up - i) for i in range(n_up + 1)]  # e.g. [4w, 2w, w]
    g: list[nn.Module] = [nn.Linear(cfg.z_dim, widths[0] * start * start), nn.Unflatten(1, (widths[0], start, start)),
                          nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for a, b in zip(widths[:-1], widths[1:]):
        g += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]
    g += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
    d: list[nn.Module] = [nn.Conv2d(channels, widths[-1], 3, 1, 1), nn.LeakyReLU(0.2)]
    for a, b in zip(widths[::-1][:-1], widths[::-1][1:]):
        d += [nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2)]
    d += [nn.Flatten(), nn.Linear(widths[0] * start * start, 1)]
    return Generator(nn.Sequential(*g), cfg.z_dim), Discriminator(nn.Sequential(*d))


class ResBlock(nn.Module):
    """Residual block of Gulrajani et al.: `up` (G, BatchNorm), `down` or plain (D, no normalization).

    `first` is D's optimized first block (no activation before its first conv, pool-then-conv shortcut)."""

    def __init__(self, c_in: int, c_out: int, resample: str | None, first: bool = False) -> None:
        super().__init__()
        self.resample, self.first = resample, first
        self.bn1 = nn.BatchNorm2d(c_in) if resample == "up" else nn.Identity()
        self.bn2 = nn.BatchNorm2d(c_out) if resample == "up" else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (c_in != c_out or resample) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.bn1(x))
        if self.resample == "up":
            h, x = F.interpolate(h, scale_factor=2), F.interpolate(x, scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        if self.resample == "down":
            h = F.avg_pool2d(h, 2)
            x = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
            return h + x
        return h + self.shortcut(x)


def resnet_pair(cfg: NetConfig, shape: tuple[int, ...]) -> tuple[Generator, Discriminator]:
    """The unconditional ResNet WGAN-GP pair of gan_cifar_resnet.py (DIM_G = DIM_D = width)."""
    channels, size = shape[0], shape[-1]
    if size != 32:
        raise ConfigError(f"the resnet architecture is for 32 px images (CIFAR-10), got {size} px")
    w = cfg.width
    g = nn.Sequential(nn.Linear(cfg.z_dim, 4 * 4 * w), nn.Unflatten(1, (w, 4, 4)),
                      *[ResBlock(w, w, "up") for _ in range(3)],
                      nn.BatchNorm2d(w), nn.ReLU(), nn.Conv2d(w, channels, 3, 1, 1), nn.Tanh())
    d = nn.Sequential(ResBlock(channels, w, "down", first=True), ResBlock(w, w, "down"),
                      ResBlock(w, w, None), ResBlock(w, w, None),
                      nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(w, 1))  # ReLU, mean over space
    return Generator(g, cfg.z_dim), Discriminator(d)


ARCHITECTURES = {"mlp": mlp_pair, "dcgan": dcgan_pair, "resnet": resnet_pair}


def build_pair(cfg: NetConfig, shape: tuple[int, ...]) -> tuple[Generator, Discriminator]:
    """G and D of architecture `cfg.arch` for data of one-sample `shape` ((2,) or (C, H, W))."""
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture '{cfg.arch}' (known: {', '.join(ARCHITECTURES)})")
    if cfg.arch != "mlp" and len(shape) != 3:
        raise ConfigError(f"the {cfg.arch} architecture needs images, got samples of shape {tuple(shape)}")
    return ARCHITECTURES[cfg.arch](cfg, tuple(shape))
