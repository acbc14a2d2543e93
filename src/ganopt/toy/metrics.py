"""Trajectory metrics of the toy, per run (R,), over the latent distribution itself: a latent z is
one active coordinate e_i (probability (1 - pair_fraction) / m_G each) or a pair e_i + e_j
(pair_fraction spread evenly over the m_G (m_G - 1) / 2 pairs), and G(z) = V z, so every share
below is an exact probability over z (pairs included), computed from the Gram matrix of V's
columns without sampling.

Cones (Thm 4.2: ||G(z)/||G(z)|| - u_l|| = o(1); Thm 4.1: G(z) = alpha (u1 + u2) + xi, xi = o(alpha)):
with theta = angle(u1, u2) and the half-angle c = cone * theta,
- p_l = Pr_z[angle(G(z), u_l) <= c], the share of latents recovering mode l (l = 1, 2);
- p_s = Pr_z[angle(G(z), u1 + u2) <= c], the share collapsed onto u1 + u2.
u1 and u2 are theta/2 from u1 + u2, so for cone < 1/4 the three cones are disjoint; cone = 1/6
splits the arc from u_l to u1 + u2 in thirds in the modes' plane (||G/||G|| - u_l|| <= 2 sin(c/2)).
A latent still near its random initialization points away from the modes' plane (angle ~90
degrees), so the cones need no "moved" condition.

Also: `moved` = Pr_z[||G_t(z) - G_0(z)|| >= moved_factor ||G_0(z)||]; `xi_ratio`, the median over
moved columns of ||xi_i|| / |alpha_i| (v_i = alpha_i (u1 + u2) + xi_i, xi_i orthogonal to u1 + u2;
NaN while none moved), Thm 4.1's own quantity; `align_d/u<l>`: the share of discriminator rows
within the cone of u_l."""

from __future__ import annotations

import math

import torch

from ganopt.toy.config import single_latent_mass


def pair_indices(m: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(i, j) with i < j: the m (m - 1) / 2 latent pairs."""
    return tuple(torch.triu_indices(m, m, offset=1, device=device))  # type: ignore[return-value]


def _outputs(X: torch.Tensor, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For all latents z (singles then pairs) of columns X (R, d, m): <G(z), r> for each unit
    reference r (R, d, k) as (R, k, n_z), and ||G(z)|| as (R, n_z)."""
    m = X.shape[-1]
    i, j = pair_indices(m, X.device)
    proj = refs.transpose(1, 2) @ X                                    # (R, k, m)
    gram = X.transpose(1, 2) @ X                                       # (R, m, m)
    sq = torch.diagonal(gram, dim1=1, dim2=2)                          # (R, m)
    proj_z = torch.cat([proj, proj[..., i] + proj[..., j]], dim=-1)
    sq_z = torch.cat([sq, sq[:, i] + sq[:, j] + 2 * gram[:, i, j]], dim=-1)
    return proj_z, sq_z.clamp_min(0).sqrt()


def _weights(m: int, pair_fraction: float, like: torch.Tensor) -> torch.Tensor:
    """Pr[z] of each latent of _outputs: (1 - pair_fraction) / m per single, the rest over the pairs."""
    n_pairs = m * (m - 1) // 2
    pair = pair_fraction / n_pairs if n_pairs else 0.0
    return torch.cat([torch.full((m,), single_latent_mass(m, pair_fraction), dtype=like.dtype, device=like.device),
                      torch.full((n_pairs,), pair, dtype=like.dtype, device=like.device)])


def references(U: torch.Tensor) -> torch.Tensor:
    """Unit u1, u2 and (u1 + u2)/||u1 + u2|| as columns (R, d, 3)."""
    refs = torch.cat([U, U.sum(-1, keepdim=True)], dim=-1)
    return refs / refs.norm(dim=1, keepdim=True)


def half_angle(U: torch.Tensor, cone: float) -> torch.Tensor:
    """cone * angle(u1, u2) per run (R, 1)."""
    return cone * torch.arccos((U[..., 0] * U[..., 1]).sum(1).clamp(-1.0, 1.0)).view(-1, 1)


def cone_shares(V: torch.Tensor, U: torch.Tensor, cone: float, pair_fraction: float) -> torch.Tensor:
    """(p1, p2, p_s) per run, (R, 3): the probability over z that G(z) = V z lies within the cone
    of u1, of u2 and of u1 + u2."""
    m = V.shape[-1]
    proj, norm = _outputs(V, references(U))
    cos = proj / norm.unsqueeze(1).clamp_min(torch.finfo(V.dtype).tiny)
    inside = cos >= torch.cos(half_angle(U, cone)).unsqueeze(-1)       # (R, 3, n_z)
    return (inside.to(V.dtype) * _weights(m, pair_fraction, V)).sum(-1)


def moved_share(V: torch.Tensor, V0: torch.Tensor, moved_factor: float, pair_fraction: float) -> torch.Tensor:
    """Pr_z[||G_t(z) - G_0(z)|| >= moved_factor ||G_0(z)||] per run (R,)."""
    m = V.shape[-1]
    empty = V.new_zeros(V.shape[0], V.shape[1], 0)
    _, delta = _outputs(V - V0, empty)
    _, start = _outputs(V0, empty)
    return ((delta >= moved_factor * start).to(V.dtype) * _weights(m, pair_fraction, V)).sum(-1)


def latent_metrics(V: torch.Tensor, V0: torch.Tensor, W: torch.Tensor, U: torch.Tensor, cone: float,
                   moved_factor: float, pair_fraction: float) -> dict[str, torch.Tensor]:
    """All trajectory metrics for R runs: V, V0 (R, d, m_G), W (R, m_D, d), U (R, d, 2)."""
    p = cone_shares(V, U, cone, pair_fraction)
    s = U.sum(-1)
    alpha = (s.unsqueeze(1) @ V).squeeze(1) / s.square().sum(1, keepdim=True)      # (R, m_G)
    ratio = (V - s.unsqueeze(-1) * alpha.unsqueeze(1)).norm(dim=1) / alpha.abs()
    moved_columns = (V - V0).norm(dim=1) >= moved_factor * V0.norm(dim=1)
    d_rows = cone_shares(W.transpose(1, 2), U, cone, 0.0)                          # one "latent" per row
    return {
        "p1": p[:, 0], "p2": p[:, 1], "p_s": p[:, 2],
        "moved": moved_share(V, V0, moved_factor, pair_fraction),
        "xi_ratio": torch.nanquantile(torch.where(moved_columns, ratio, torch.nan), 0.5, dim=1),
        "align_d/u1": d_rows[:, 0], "align_d/u2": d_rows[:, 1],
    }


def cone_degrees(u_cos: float, cone: float) -> float:
    """The cone's half-angle in degrees at <u1, u2> = u_cos (for labels)."""
    return math.degrees(cone * math.acos(u_cos))
