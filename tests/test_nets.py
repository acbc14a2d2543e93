"""Shapes, ranges and gradient flow of every architecture on every image size it supports."""

import pytest
import torch

from ganopt.errors import ConfigError
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import ResBlock, build_pair

CASES = [  # (arch, one-sample shape, width)
    ("mlp", (2,), 8),
    ("mlp", (1, 8, 8), 8),
    ("dcgan", (1, 8, 8), 4),
    ("dcgan", (1, 16, 16), 4),
    ("dcgan", (1, 28, 28), 4),
    ("dcgan", (3, 32, 32), 4),
    ("resnet", (3, 32, 32), 8),
]


@pytest.mark.parametrize("arch,shape,width", CASES)
def test_pair_shapes_and_gradients(arch, shape, width):
    torch.manual_seed(0)
    G, D = build_pair(NetConfig(arch=arch, z_dim=5, width=width, depth=1), shape)
    assert G.z_dim == 5
    x = G(torch.randn(3, 5))
    assert x.shape == (3, *shape)
    if len(shape) == 3:
        assert x.abs().max() <= 1.0  # tanh output, images live in [-1, 1]
    logits = D(x)
    assert logits.shape == (3,)
    logits.sum().backward()
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        assert p.grad is not None, f"{arch}: no gradient reaches {name}"


def test_resnet_follows_gulrajani_layout():
    G, D = build_pair(NetConfig(arch="resnet", z_dim=128, width=8), (3, 32, 32))
    g_blocks = [m for m in G.modules() if isinstance(m, ResBlock)]
    d_blocks = [m for m in D.modules() if isinstance(m, ResBlock)]
    assert [b.resample for b in g_blocks] == ["up", "up", "up"]
    assert [(b.resample, b.first) for b in d_blocks] == [("down", True), ("down", False), (None, False),
                                                       (None, False)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())  # no normalization in the critic


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 12, 12)), ("resnet", (1, 28, 28)), ("dcgan", (2,)),
                                        ("transformer", (2,))])
def test_unsupported_combinations_are_config_errors(arch, shape):
    with pytest.raises(ConfigError):
        build_pair(NetConfig(arch=arch, width=4), shape)
