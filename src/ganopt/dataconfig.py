"""The datasets' config sections and the one each registry dataset takes, torch-free: the workflow
reads them while parsing (ganopt.data builds, writes and loads the datasets)."""

from __future__ import annotations

from dataclasses import dataclass

from ganopt.config import schema_section


@schema_section("data.schema.yaml#/$defs/mixture")
@dataclass(frozen=True)
class MixtureConfig:
    """A 2-D Gaussian mixture: `ring8` (modes on a circle) or `grid25` (modes on a square grid)."""

    n_train: int
    n_test: int
    scale: float  # ring radius, or half-width of the grid
    std: float  # per-coordinate standard deviation of each mode
    seed: int  # data seed, separate from training seeds


@schema_section("data.schema.yaml#/$defs/digits")
@dataclass(frozen=True)
class DigitsConfig:
    """scikit-learn's 8x8 digits (1797 images, shipped with the package), scaled to [-1, 1]."""

    size: int  # 8 (native) or 16 (bilinear upsampling)
    test_fraction: float
    seed: int


@schema_section("data.schema.yaml#/$defs/stacked_digits")
@dataclass(frozen=True)
class StackedDigitsConfig:
    """Three 8x8 digits stacked as three channels (1000 modes, as Stacked MNIST), each triple drawn
    at random from the digits split of its own split (train triples from train digits)."""

    n_train: int
    n_test: int
    test_fraction: float   # of the underlying digits, as in DigitsConfig
    seed: int


@schema_section("data.schema.yaml#/$defs/torchvision")
@dataclass(frozen=True)
class TorchvisionConfig:
    """MNIST or CIFAR-10 read from a local folder with torchvision."""

    root: str
    download: bool  # only fetch when explicitly asked (no network in CI)
    verify_checksums: bool  # CIFAR-10: check the official md5 sums of the batch files


DATASET_CONFIGS: dict[str, type] = {
    "ring8": MixtureConfig,
    "grid25": MixtureConfig,
    "digits": DigitsConfig,
    "stacked_digits": StackedDigitsConfig,
    "mnist": TorchvisionConfig,
    "cifar10": TorchvisionConfig,
}


def is_mixture(name: str) -> bool:
    """Whether registry dataset `name` is a 2-D Gaussian mixture (mode metrics instead of FID)."""
    return DATASET_CONFIGS[name] is MixtureConfig
