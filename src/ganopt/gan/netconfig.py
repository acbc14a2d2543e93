"""The G/D architecture's config, torch-free (ganopt.gan.nets builds the nets)."""

from __future__ import annotations

from dataclasses import dataclass

from ganopt.config import schema_section


@schema_section("gan.schema.yaml#/$defs/net")
@dataclass(frozen=True)
class NetConfig:
    """Architecture of the G/D pair: `mlp`, `dcgan` (images of 8, 16, 28 or 32 px) or `resnet` (32 px)."""

    arch: str
    z_dim: int  # latent size
    width: int  # hidden units (mlp) or base channels (dcgan, resnet)
    depth: int  # hidden layers of each MLP (ignored by the convolutional nets)

