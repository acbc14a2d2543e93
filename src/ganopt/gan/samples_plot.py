"""samples.png of a run: an image grid, or generated points scattered over the held-out data."""

from __future__ import annotations

from pathlib import Path

import torch

from ganopt import io
from ganopt.data import Prepared


def image_grid(images: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] tiled into one (H', W', C) array in [0, 1] on a white background
    (torchvision's make_grid, without importing torchvision's heavy model zoo)."""
    n, c, h, w = images.shape
    cols = max(1, int(n ** 0.5))
    rows = -(-n // cols)
    grid = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    pixels = (torch.nan_to_num(images).clamp(-1, 1) + 1) / 2
    for i in range(n):
        r, k = divmod(i, cols)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = pixels[i]
    return grid.permute(1, 2, 0).expand(-1, -1, 3) if c == 1 else grid.permute(1, 2, 0)


def save_samples_figure(path: Path, samples: torch.Tensor, data: Prepared, title: str) -> None:
    """Write the figure atomically; points get the test data (grey) and mode centers (x) behind them."""
    from matplotlib.figure import Figure  # imported here: a second per job, needed only at the end
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    if data.kind == "points":
        ax.scatter(*data.test[:2000].T.numpy(), s=6, c="0.6", label="data (test)")
        ax.scatter(*samples.T.numpy(), s=2, c="tab:red", alpha=0.5, label="generated")
        centers = torch.tensor(data.meta["centers"])
        ax.scatter(*centers.T.numpy(), marker="x", c="k", s=30, label="modes")
        lim = 1.5 * float(centers.abs().max())
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        ax.legend(loc="upper right", fontsize=7)
    else:
        ax.imshow(image_grid(samples).numpy(), interpolation="nearest")
        ax.axis("off")
    ax.set_title(title, fontsize=9)
    io.save_figure(path, fig, dpi=100)
