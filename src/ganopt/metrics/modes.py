"""Mode metrics of generated points against a 2-D Gaussian mixture (ring8, grid25).

A point is high quality within `radius_std` standard deviations of its nearest mode; a mode is
covered when it holds at least `min_share` of its fair share (n / n_modes) of high-quality points
(with 2,500 points on grid25 and min_share 0.2 this is PacGAN's "20 high-quality samples" rule).
`frechet_data` is the Fréchet distance of the points to the data in the 2-D data space."""

from __future__ import annotations

import torch

from ganopt.metrics.fid import ModesConfig, frechet, gaussian_stats


def mode_metrics(points: torch.Tensor, centers: torch.Tensor, std: float, reference: torch.Tensor,
                 cfg: ModesConfig) -> dict[str, float]:
    """modes_covered, n_modes, high_quality_frac and frechet_data of points (N, 2)."""
    dist, nearest = torch.cdist(points.double(), centers.double()).min(1)
    high = dist <= cfg.radius_std * std
    counts = torch.bincount(nearest[high], minlength=len(centers))
    threshold = cfg.min_share * len(points) / len(centers)
    return {"modes_covered": int((counts >= threshold).sum()),
            "n_modes": len(centers),
            "high_quality_frac": float(high.double().mean()),
            "frechet_data": frechet(gaussian_stats(points.double().numpy()),
                                    gaussian_stats(reference.double().numpy()))}
