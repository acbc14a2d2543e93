"""Mode metrics of 2-D mixtures: real data covers every mode, collapse and noise are caught."""

import math

import pytest
import torch

from ganopt.data import grid25_centers, ring8_centers
from ganopt.metrics.fid import ModesConfig
from ganopt.metrics.modes import mode_metrics

STD = 0.02


def draw(centers: torch.Tensor, n: int, seed: int, modes: list[int] | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    pool = torch.tensor(modes) if modes is not None else torch.arange(len(centers))
    idx = pool[torch.randint(len(pool), (n,), generator=gen)]
    return centers[idx] + STD * torch.randn(n, 2, generator=gen)


@pytest.fixture(scope="module")
def ring() -> tuple[torch.Tensor, torch.Tensor]:
    centers = ring8_centers(2.0)
    return centers, draw(centers, 5000, seed=1)


def test_real_data_covers_every_mode(ring):
    centers, reference = ring
    out = mode_metrics(draw(centers, 2500, seed=2), centers, STD, reference, ModesConfig())
    assert out["modes_covered"] == out["n_modes"] == 8
    # within 3 std of a 2-D isotropic Gaussian: 1 - exp(-4.5) = 0.989
    assert out["high_quality_frac"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert out["frechet_data"] < 0.01


def test_mode_collapse_is_counted(ring):
    centers, reference = ring
    out = mode_metrics(draw(centers, 2500, seed=3, modes=[0, 4]), centers, STD, reference, ModesConfig())
    assert out["modes_covered"] == 2
    assert out["high_quality_frac"] > 0.95  # collapsed samples are still sharp
    assert out["frechet_data"] > 1.0


def test_blurry_samples_are_low_quality(ring):
    centers, reference = ring
    blurry = draw(centers, 2500, seed=4) + 0.5 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(5))
    out = mode_metrics(blurry, centers, STD, reference, ModesConfig())
    assert out["high_quality_frac"] < 0.05
    assert out["modes_covered"] == 0


@pytest.mark.parametrize("count, covered", [(19, 24), (20, 25)])
def test_coverage_threshold_is_pacgans_rule_on_grid25(count, covered):
    """2,500 points, min_share 0.2: a mode needs 20 high-quality points (PacGAN's rule)."""
    centers = grid25_centers(2.0)
    per_mode = [100] * 24 + [count]
    points = torch.cat([centers[i].expand(k, 2) for i, k in enumerate(per_mode)])
    points = torch.cat([points, torch.full((2500 - len(points), 2), 50.0)])  # far from every mode
    out = mode_metrics(points, centers, STD, draw(centers, 2500, seed=6), ModesConfig())
    assert out["modes_covered"] == covered
