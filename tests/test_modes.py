"""The mode rule on hand-made samples (VEEGAN / PacGAN counts), its KL to uniform, the energy
distance that ranks mixture runs, and the plateau test of a run's metric."""

import math

import pytest
import torch

from ganopt.data import grid25_centers, ring8_centers
from ganopt.metrics.modes import (
    energy_distance,
    kl_to_uniform,
    mode_coverage,
    mode_metrics,
)
from ganopt.metrics.plateau import PlateauConfig, plateau

STD = 0.02    # the data's per-mode std (ring8's default)


def draw(centers: torch.Tensor, n: int, seed: int, modes: list[int] | None = None, std: float = STD) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    pool = torch.tensor(modes) if modes is not None else torch.arange(len(centers))
    idx = pool[torch.randint(len(pool), (n,), generator=gen)]
    return centers[idx] + std * torch.randn(n, 2, generator=gen)


@pytest.fixture(scope="module")
def centers() -> torch.Tensor:
    return ring8_centers(2.0)


def test_real_data_covers_every_mode(centers):
    out = mode_metrics(draw(centers, 2500, seed=2), centers, STD, draw(centers, 2500, seed=1))
    assert out["modes_covered"] == out["n_modes"] == 8
    # within 3 std of a 2-D isotropic Gaussian: 1 - exp(-4.5) = 0.989
    assert out["high_quality_frac"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert out["mode_kl"] < 0.01 and out["energy_data"] < 0.01


def test_wide_samples_on_all_eight_modes_cover_eight(centers):
    """std 0.10 around each mode: ~16% of points within 3 x 0.02, ~50 per mode of 2,500 >= 20."""
    out = mode_coverage(draw(centers, 2500, seed=3, std=0.10), centers, STD)
    assert out["modes_covered"] == 8 and 0.1 < out["high_quality_frac"] < 0.25


def test_three_modes_cover_three(centers):
    out = mode_metrics(draw(centers, 2500, seed=4, modes=[0, 3, 5]), centers, STD, draw(centers, 2500, seed=1))
    assert out["modes_covered"] == 3 and out["high_quality_frac"] > 0.95   # collapsed samples are still sharp
    assert out["mode_kl"] == pytest.approx(math.log(8 / 3), abs=0.02)
    assert out["energy_data"] > 0.1


def test_mode_kl_is_zero_when_balanced_and_log_k_when_empty(centers):
    balanced = centers.repeat_interleave(30, dim=0)
    assert mode_coverage(balanced, centers, STD)["mode_kl"] == pytest.approx(0.0, abs=1e-12)
    assert kl_to_uniform(torch.tensor([5, 0, 0, 0])) == pytest.approx(math.log(4))
    far = torch.full((100, 2), 50.0)
    assert mode_coverage(far, centers, STD) == {"modes_covered": 0, "high_quality_frac": 0.0,
                                                "mode_kl": pytest.approx(math.log(8)), "n_modes": 8}


@pytest.mark.parametrize("count, covered", [(19, 24), (20, 25)])
def test_coverage_needs_twenty_of_2500_on_grid25(count, covered):
    """PacGAN's rule: 2,500 points, a mode needs 20 high-quality points."""
    centers = grid25_centers(2.0)
    per_mode = [100] * 24 + [count]
    points = torch.cat([centers[i].expand(k, 2) for i, k in enumerate(per_mode)])
    points = torch.cat([points, torch.full((2500 - len(points), 2), 50.0)])  # far from every mode
    assert mode_coverage(points, centers, STD)["modes_covered"] == covered
    assert mode_coverage(points, centers, STD, min_count=count + 1)["modes_covered"] == 24


def test_energy_distance_separates_runs_with_equal_mode_counts(centers):
    """Two runs covering 0 modes (blurred vs far off) still rank: the blurred one is closer."""
    data = draw(centers, 2000, seed=5)
    blurred, far = draw(centers, 2000, seed=6, std=0.5), draw(centers, 2000, seed=7, std=0.5) + 3.0
    assert mode_coverage(blurred, centers, STD)["modes_covered"] == mode_coverage(far, centers, STD)["modes_covered"] == 0
    assert 0 < energy_distance(blurred, data) < energy_distance(far, data)
    assert energy_distance(data, data) == pytest.approx(0.0, abs=1e-12)


CFG = PlateauConfig(window=0.25, tolerance=0.05)


@pytest.mark.parametrize("values, plateaued", [
    ([100, 60, 41, 40, 40.5, 40.2], True),      # settled: medians 40.5 vs 40.35
    ([100, 80, 60, 50, 40, 30], False),         # still falling 20% per span
    ([0, 0, 0, 0, 0, 0], True),                 # 0 modes throughout: no change
    ([100, 60, 41, 40, 50, 55], True),          # got worse: no longer improving (one-sided)
])
def test_plateau_compares_the_last_two_spans(values, plateaued):
    steps = [200, 400, 600, 800, 1000, 1200]    # window 300 steps: (900, 1200] vs (600, 900]
    out = plateau(steps, values, 1200, CFG)
    assert out["plateaued"] is plateaued and out["from_step"] == 900


def test_plateau_knows_which_way_is_better():
    steps, rising = [200, 400, 600, 800, 1000, 1200], [1, 2, 3, 4, 6, 8]   # modes still being found
    assert plateau(steps, rising, 1200, CFG, higher_is_better=True)["plateaued"] is False
    assert plateau(steps, rising, 1200, CFG, higher_is_better=False)["plateaued"] is True


def test_plateau_is_unknown_without_evaluations_or_at_a_diverged_end():
    assert plateau([1000], [40.0], 1000, CFG)["plateaued"] is None
    assert plateau([500, 750, 1000], [50.0, 45.0, math.nan], 1000, CFG)["plateaued"] is None
