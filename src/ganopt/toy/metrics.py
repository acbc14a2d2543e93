"""Trajectory metrics of the toy, per run (R,), on the one-hot latents z = e_i (G(e_i) = v_i),
which carry all but `pair_fraction` of the latent distribution. Shares are over ALL m_G latents.

Angles are measured against the angle theta = arccos <u1, u2> between the modes; s = u1 + u2
sits at theta/2 from each mode. With the margin m = angle_margin * theta, a latent that moved
(||v_i - v_i(0)|| >= moved_factor ||v_i(0)||) is
- collapsed when angle(v_i, s) + m < min(angle(v_i, u1), angle(v_i, u2)) and angle(v_i, s) < theta/2;
- recovering mode l when angle(v_i, u_l) + m < angle(v_i, s) and angle(v_i, u_l) < theta/2.
In the plane of u1, u2 and with the default m = theta/6 this splits the arc from s to u_l into
thirds: the third next to s is "collapsed", the third next to u_l "recovers u_l" (so a latent on
u1 counts as recovering u1 at every <u1, u2>, where a fixed cos threshold with s would not); the
theta/2 caps keep outputs pointing away from the data out of both.

Metrics: `collapsed`, `recovered/u1`, `recovered/u2`, `moved` (shares of latents); `cos_s`
(mean cos(v_i, s)); `xi_ratio` (median over moved latents of ||xi_i|| / |alpha_i|, where
v_i = alpha_i s + xi_i with xi_i orthogonal to s; Thm 4.1: -> o(1) under collapse; NaN while
none moved); `align_d/u<l>`: share of discriminator rows recovering mode l by the same rule."""

from __future__ import annotations

import torch


def angles(X: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """Angles (radians) between the columns of X (R, d, m) and u1, u2, u1+u2: (R, 3, m)."""
    refs = torch.cat([U, U.sum(-1, keepdim=True)], dim=-1)               # (R, d, 3)
    refs = refs / refs.norm(dim=1, keepdim=True)
    cos = (refs.transpose(1, 2) @ X) / X.norm(dim=1, keepdim=True).clamp_min(torch.finfo(X.dtype).tiny)
    return torch.arccos(cos.clamp(-1.0, 1.0))


def classify(X: torch.Tensor, U: torch.Tensor, angle_margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(collapsed (R, m), recovered (R, 2, m)) for the columns of X by the module's angle rules."""
    theta = torch.arccos((U[..., 0] * U[..., 1]).sum(1).clamp(-1.0, 1.0)).view(-1, 1)  # (R, 1)
    margin, half = angle_margin * theta, theta / 2
    a = angles(X, U)
    a1, a2, a_s = a[:, 0], a[:, 1], a[:, 2]
    collapsed = (a_s + margin < torch.minimum(a1, a2)) & (a_s < half)
    recovered = torch.stack([(al + margin < a_s) & (al < half) for al in (a1, a2)], dim=1)
    return collapsed, recovered


def latent_metrics(V: torch.Tensor, V0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
                   angle_margin: float, moved_factor: float) -> dict[str, torch.Tensor]:
    """All trajectory metrics for R runs: V, V0 (R, d, m_G), W (R, m_D, d), U (R, d, 2)."""
    dtype = V.dtype
    moved = (V - V0).norm(dim=1) >= moved_factor * V0.norm(dim=1)       # (R, m_G)
    collapsed, recovered = classify(V, U, angle_margin)
    s = U.sum(-1)                                                         # (R, d)
    s_norm = s.norm(dim=1, keepdim=True)
    proj = (s.unsqueeze(1) @ V).squeeze(1)                                # <s, v_i>, (R, m_G)
    alpha = proj / s_norm.square()
    ratio = (V - s.unsqueeze(-1) * alpha.unsqueeze(1)).norm(dim=1) / alpha.abs()
    _, recovered_d = classify(W.transpose(1, 2), U, angle_margin)
    return {
        "collapsed": (collapsed & moved).to(dtype).mean(1),
        "recovered/u1": (recovered[:, 0] & moved).to(dtype).mean(1),
        "recovered/u2": (recovered[:, 1] & moved).to(dtype).mean(1),
        "moved": moved.to(dtype).mean(1),
        "cos_s": (proj / (s_norm * V.norm(dim=1))).mean(1),
        "xi_ratio": torch.nanquantile(torch.where(moved, ratio, torch.nan), 0.5, dim=1),
        "align_d/u1": recovered_d[:, 0].to(dtype).mean(1),
        "align_d/u2": recovered_d[:, 1].to(dtype).mean(1),
    }
