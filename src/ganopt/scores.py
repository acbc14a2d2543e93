"""Cheap sample-quality scores against a held-out split, used to pick step sizes in `tune_lr`.

FID is computed by a later stage; tuning needs something fast and self-contained:
- 2-D mixtures: modes covered plus the high-quality fraction (a point is high quality when it
  lies within 3 std of its nearest mode; a mode is covered when at least 1% of all samples are
  high-quality points of that mode). Score = modes_covered + high_quality_frac, so the mode
  count decides and the fraction breaks ties. Higher is better.
- images: the Fréchet distance between Gaussians fitted to generated and held-out test images,
  in pixel space after a fixed random Gaussian projection to at most 64 dimensions (seed 0).
  It sees mean and covariance only, but punishes collapse (too little covariance) and junk
  (wrong mean). Score = -distance, so higher is better."""

from __future__ import annotations

import numpy as np
import torch

from ganopt.data import Prepared

MIN_MODE_SHARE = 0.01   # a mode is covered when this fraction of all samples are its high-quality points
HQ_STDS = 3.0           # high quality: within this many std of the nearest mode
PROJECTION_DIM = 64


def mode_stats(points: torch.Tensor, centers: torch.Tensor, std: float) -> dict[str, float]:
    """modes_covered and high_quality_frac of 2-D `points` against a mixture's `centers`."""
    dist = torch.cdist(points.double(), centers.double())
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= HQ_STDS * std
    counts = torch.bincount(nearest[good], minlength=len(centers))
    return {"modes_covered": float((counts >= MIN_MODE_SHARE * len(points)).sum()),
            "high_quality_frac": float(good.double().mean())}


def _gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussians fitted to rows of a and b."""
    (mu_a, s_a), (mu_b, s_b) = _gaussian(a), _gaussian(b)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)


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
        stats = mode_stats(samples, torch.tensor(data.meta["centers"]), float(data.meta["std"]))
        return stats["modes_covered"] + stats["high_quality_frac"], stats
    fd = frechet_distance(pixel_features(samples), pixel_features(data.test))
    return -fd, {"frechet_pixels": fd}


def score_name(kind: str) -> str:
    """The documented name of the tuning score of a dataset kind."""
    return "modes_covered+high_quality_frac" if kind == "points" else "-frechet_pixels"
