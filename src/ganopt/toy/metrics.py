"""Trajectory metrics of the toy, per run (R,), on the one-hot latents z = e_i (G(e_i) = v_i),
which carry all but `pair_fraction` of the latent distribution.

- `recovery/u<l>/all|moved`: fraction of latents with cos(v_i, u_l) >= recover_cos (Thm 4.2's
  event), over all latents or over those that moved (||v_i - v_i(0)|| >= moved_factor ||v_i(0)||);
- `collapse_cos/all|moved`: mean |cos(v_i, (u1+u2)/||u1+u2||)| (Thm 4.1: SGDA aligns with u1+u2);
- `xi_ratio/all|moved`: median over latents of ||xi_i|| / |alpha_i| where
  v_i = alpha_i (u1+u2) + xi_i with xi_i orthogonal to u1+u2 (Thm 4.1: -> o(1) under collapse);
- `moved_frac`; `align_d/u<l>`: fraction of discriminator rows with cos(w_i, u_l) >= recover_cos."""

from __future__ import annotations

import torch


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over dim 1 where mask holds; NaN for a run with an empty mask."""
    mask = mask.to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1)


def _masked_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median of x over dim 1 where mask holds; NaN for a run with an empty mask."""
    return torch.nanquantile(torch.where(mask, x, torch.nan), 0.5, dim=1)


def latent_metrics(V: torch.Tensor, V0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
                   recover_cos: float, moved_factor: float) -> dict[str, torch.Tensor]:
    """All trajectory metrics for R runs: V, V0 (R, d, m_G), W (R, m_D, d), U (R, d, 2)."""
    v_norm = V.norm(dim=1)                                        # (R, m_G)
    cos_u = (U.transpose(1, 2) @ V) / v_norm.unsqueeze(1)         # (R, 2, m_G)
    moved = (V - V0).norm(dim=1) >= moved_factor * V0.norm(dim=1)
    everyone = torch.ones_like(moved)
    s = U.sum(-1)                                                 # (R, d): u1 + u2
    s_sq = s.square().sum(1, keepdim=True)
    proj = (s.unsqueeze(1) @ V).squeeze(1)                        # (R, m_G): <u1+u2, v_i>
    alpha = proj / s_sq
    xi = V - s.unsqueeze(-1) * alpha.unsqueeze(1)
    ratio = xi.norm(dim=1) / alpha.abs()
    collapse = proj.abs() / (s_sq.sqrt() * v_norm)
    cos_w = (W @ U) / W.norm(dim=2, keepdim=True)                 # (R, m_D, 2)
    out: dict[str, torch.Tensor] = {}
    for group, mask in (("all", everyone), ("moved", moved)):
        for ell in (0, 1):
            out[f"recovery/u{ell + 1}/{group}"] = _masked_mean((cos_u[:, ell] >= recover_cos).to(V.dtype), mask)
        out[f"collapse_cos/{group}"] = _masked_mean(collapse, mask)
        out[f"xi_ratio/{group}"] = _masked_median(ratio, mask)
    out["moved_frac"] = moved.to(V.dtype).mean(1)
    for ell in (0, 1):
        out[f"align_d/u{ell + 1}"] = (cos_w[..., ell] >= recover_cos).to(V.dtype).mean(1)
    return out
