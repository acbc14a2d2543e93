"""The two-mode toy of Paper A, Section 4, batched over runs (leading dim R = settings x seeds).

Data X = u1 or u2; linear generator G(z) = V z with a sparse binary latent z; discriminator
D(X) = sigmoid(a sum_i sigma(<w_i, X>) + lam b) with the truncated cubic sigma; objective
f = E log D(X) + E log(1 - D(G(z))), which D ascends and G descends (the saturating loss).
Gradients are written out by hand: every product is between small (m x 2, m x m_G) matrices,
so a step costs O(R m_D d m_G) with no autograd graph."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def cubic(h: torch.Tensor, threshold: float) -> torch.Tensor:
    """Truncated cubic: h^3 on |h| <= L, continued linearly (C^1) as 3L^2 h -+ 2L^3 beyond,
    written as c^3 + 3L^2 (h - c) with c = clamp(h, -L, L) (one formula, no branches)."""
    c = torch.clamp(h, -threshold, threshold)
    return c**3 + 3 * threshold**2 * (h - c)


def cubic_grad(h: torch.Tensor, threshold: float) -> torch.Tensor:
    """sigma'(h): 3h^2 inside [-L, L], 3L^2 outside."""
    return 3 * torch.clamp(h.abs(), max=threshold) ** 2


@dataclass
class Batch:
    """One step's samples for R runs: real modes one-hot S (R, n, 2), latents Z (R, n, m_G)."""

    S: torch.Tensor
    Z: torch.Tensor


@dataclass
class Params:
    """Parameters of R runs: generator V (R, d, m_G), discriminator W (R, m_D, d) and b (R, 1)."""

    V: torch.Tensor
    W: torch.Tensor
    b: torch.Tensor


@dataclass
class Game:
    """The fixed constants of the toy objective."""

    a: float
    lam: float
    threshold: float


@dataclass
class Grads:
    """df/dV, df/dW, df/db for each run (f is the value D ascends and G descends), and f itself."""

    V: torch.Tensor
    W: torch.Tensor
    b: torch.Tensor
    value: torch.Tensor  # f per run (R,)
    loss_g: torch.Tensor  # E log(1 - D(G(z))) per run (R,), what G minimizes


def objective_grads(p: Params, U: torch.Tensor, batch: Batch, game: Game) -> Grads:
    """f and its gradients for every run at once; U (R, d, 2) holds u1, u2 as columns."""
    S, Z = batch.S, batch.Z
    n_real, n_fake = S.shape[1], Z.shape[1]
    WU = p.W @ U                                   # (R, m_D, 2): <w_i, u_l>
    WV = p.W @ p.V                                 # (R, m_D, m_G): <w_i, v_j>
    H_r = S @ WU.transpose(1, 2)                   # (R, n, m_D): <w_i, X>
    H_f = Z @ WV.transpose(1, 2)                   # (R, n, m_D): <w_i, V z>
    l_r = game.a * cubic(H_r, game.threshold).sum(-1) + game.lam * p.b
    l_f = game.a * cubic(H_f, game.threshold).sum(-1) + game.lam * p.b
    loss_g = F.logsigmoid(-l_f).mean(1)
    value = F.logsigmoid(l_r).mean(1) + loss_g
    c_r = torch.sigmoid(-l_r) / n_real             # d f / d l_r
    c_f = -torch.sigmoid(l_f) / n_fake             # d f / d l_f
    A_r = game.a * c_r.unsqueeze(-1) * cubic_grad(H_r, game.threshold)  # d f / d H_r
    A_f = game.a * c_f.unsqueeze(-1) * cubic_grad(H_f, game.threshold)
    AZ = A_f.transpose(1, 2) @ Z                   # (R, m_D, m_G)
    AS = A_r.transpose(1, 2) @ S                   # (R, m_D, 2)
    gW = torch.baddbmm(AS @ U.transpose(1, 2), AZ, p.V.transpose(1, 2))  # real + fake points
    gb = game.lam * (c_r.sum(1) + c_f.sum(1)).unsqueeze(-1)
    gV = p.W.transpose(1, 2) @ AZ                  # (R, d, m_G)
    return Grads(V=gV, W=gW, b=gb, value=value, loss_g=loss_g)


def plane(d: int, gen: torch.Generator) -> torch.Tensor:
    """(d, 2) orthonormal basis of a random plane (float64): not the axes, so coordinate-wise
    methods such as Adam get no free alignment with the modes."""
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=gen, dtype=torch.float64))
    return q


def modes(q: torch.Tensor, u_cos: float, dtype: torch.dtype) -> torch.Tensor:
    """(d, 2) unit columns u1, u2 with <u1, u2> = u_cos in the plane of basis q (u1 = q[:, 0])."""
    u2 = u_cos * q[:, 0] + (1 - u_cos**2) ** 0.5 * q[:, 1]
    return torch.stack([q[:, 0], u2], dim=1).to(dtype)


def init_params(d: int, m_g: int, m_d: int, init_g: float, init_d: float, gen: torch.Generator,
                dtype: torch.dtype) -> Params:
    """Gaussian init with expected column/row norms init_g (v_i) and init_d (w_i); b = 0."""
    V = torch.randn(d, m_g, generator=gen, dtype=torch.float64) * (init_g / d**0.5)
    W = torch.randn(m_d, d, generator=gen, dtype=torch.float64) * (init_d / d**0.5)
    return Params(V=V.to(dtype), W=W.to(dtype), b=torch.zeros(1, dtype=dtype))


@dataclass
class Draws:
    """Raw samples, any leading shape (..., n): real point is u1 (`first`) or u2; latent has
    coordinate `i` active, plus coordinate `j` (!= i) where `pair`."""

    first: torch.Tensor
    i: torch.Tensor
    j: torch.Tensor
    pair: torch.Tensor

    def index(self, *key: object) -> Draws:
        return Draws(*(t[key] for t in (self.first, self.i, self.j, self.pair)))


def draw_samples(steps: int, n: int, m_g: int, mix: float, pair_fraction: float,
                 gen: torch.Generator) -> Draws:
    """`steps` batches of one run, shape (steps, n): Pr[X = u1] = mix; one uniform active
    coordinate, plus a second distinct one for a pair_fraction of latents."""
    first = torch.rand(steps, n, generator=gen) < mix
    i = torch.randint(m_g, (steps, n), generator=gen)
    pair = torch.rand(steps, n, generator=gen) < pair_fraction
    j = (i + 1 + torch.randint(max(m_g - 1, 1), (steps, n), generator=gen)) % m_g
    return Draws(first=first, i=i, j=j, pair=pair)


def dense_batch(draws: Draws, m_g: int, dtype: torch.dtype) -> Batch:
    """One-hot real modes S (..., n, 2) and binary latents Z (..., n, m_G) from raw samples."""
    S = torch.stack([draws.first, ~draws.first], dim=-1).to(dtype)
    Z = F.one_hot(draws.i, m_g).to(dtype) + draws.pair.unsqueeze(-1) * F.one_hot(draws.j, m_g).to(dtype)
    return Batch(S=S, Z=Z)
