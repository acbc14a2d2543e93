"""Cheap sample-quality scores against a held-out split, used to pick step sizes in `tune_lr`.

FID is computed by a later stage; tuning needs something fast and self-contained, ranked the way
the report ranks runs:
- 2-D mixtures: the energy distance of the samples to held-out points (ganopt.metrics.modes, the
  report's ranking metric for mixtures; it separates runs that cover the same number of modes).
  Score = -energy_data; the mode rule's metrics (modes covered, high-quality share, mode KL) are
  returned as details.
- images: the Fréchet distance (clean-fid's, ganopt.metrics.fid.frechet) between Gaussians fitted
  to generated and held-out test images, in pixel space after a fixed random Gaussian projection
  to at most 64 dimensions (seed 0). It sees mean and covariance only, but punishes collapse (too
  little covariance) and junk (wrong mean). Score = -distance.
Higher scores are better."""

from __future__ import annotations

import numpy as np
import torch

from ganopt.data import Prepared
from ganopt.metrics.fid import frechet, gaussian_stats
from ganopt.metrics.modes import mode_metrics

PROJECTION_DIM = 64


def pixel_features(images: torch.Tensor) -> np.ndarray:
    """Flattened pixels through a fixed random projection (seed 0) to at most PROJECTION_DIM dims."""
    flat = images.flatten(1).double()
    dim = min(flat.shape[1], PROJECTION_DIM)
    proj = torch.randn(flat.shape[1], dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (flat @ proj / flat.shape[1] ** 0.5).numpy()


def score_samples(samples: torch.Tensor, data: Prepared) -> tuple[float, dict[str, float]]:
    """(score, details) of generated samples against `data.test`; higher score is better (-inf for
    non-finite samples)."""
    if not torch.isfinite(samples).all():
        return float("-inf"), {}
    if data.kind == "points":
        stats = mode_metrics(samples, torch.tensor(data.meta["centers"]), float(data.meta["std"]), data.test)
        return -stats["energy_data"], stats
    fd = frechet(gaussian_stats(pixel_features(samples)), gaussian_stats(pixel_features(data.test)))
    return -fd, {"frechet_pixels": fd}


def score_name(kind: str) -> str:
    """The documented name of the tuning score of a dataset kind."""
    return "-energy_data" if kind == "points" else "-frechet_pixels"
