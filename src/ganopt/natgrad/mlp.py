"""S copies of a LeakyReLU MLP (one per seed) with their Jacobians as structured operators: for a
linear layer the Jacobian row of output (n, k) is the backpropagated signal delta_{n,k} (x) the
layer's input a_n, so J v, J^T u and the Gram J J^T (the empirical NTK, as ganopt.natgrad.gram
computes it for one model) come from the signals and inputs without forming J (S x nk x P)."""

from __future__ import annotations

import torch


class MlpJacobian:
    """J = H J_y of every seed, (S, R, P) with R = n k rows (sample-major), for the pre-head outputs
    y of an MLP given by its layers' inputs `acts` (S, n, d_in) and output signals `deltas`
    (S, n, k, d_out), parameters in nn.Sequential order (weight row-major, then bias, per layer),
    and a per-seed head H (S, R, R) (None: the identity)."""

    def __init__(self, acts: list[torch.Tensor], deltas: list[torch.Tensor], head: torch.Tensor | None = None) -> None:
        self.acts, self.deltas, self.head = acts, deltas, head
        S, n, k, _ = deltas[0].shape
        self.shape = (S, n, k)
        self.n_out = n * k
        self.sizes = [(d.shape[-1], a.shape[-1]) for a, d in zip(acts, deltas)]
        self.n_params = sum(o * i + o for o, i in self.sizes)

    def with_head(self, head: torch.Tensor) -> MlpJacobian:
        return MlpJacobian(self.acts, self.deltas, head if self.head is None else head @ self.head)

    def _rows(self, u: torch.Tensor) -> torch.Tensor:
        """H^T u as (S, n, k)."""
        if self.head is not None:
            u = (u.unsqueeze(-2) @ self.head).squeeze(-2)
        return u.reshape(self.shape)

    def rmv(self, u: torch.Tensor) -> torch.Tensor:
        """J^T u, (S, P)."""
        w = self._rows(u)
        parts = []
        for a, d in zip(self.acts, self.deltas):
            parts += [torch.einsum("snk,snko,sni->soi", w, d, a).flatten(1), torch.einsum("snk,snko->so", w, d)]
        return torch.cat(parts, dim=-1)

    def mv(self, v: torch.Tensor) -> torch.Tensor:
        """J v, (S, R)."""
        out, offset = 0, 0
        for (o, i), a, d in zip(self.sizes, self.acts, self.deltas):
            weight = v[:, offset:offset + o * i].view(-1, o, i)
            bias = v[:, offset + o * i:offset + o * i + o]
            offset += o * i + o
            out = out + torch.einsum("snko,soi,sni->snk", d, weight, a) + torch.einsum("snko,so->snk", d, bias)
        out = out.reshape(-1, self.n_out)
        return out if self.head is None else (self.head @ out.unsqueeze(-1)).squeeze(-1)

    def gram(self) -> torch.Tensor:
        """J J^T, (S, R, R): per layer (<a_n, a_m> + 1) <delta_{n,k}, delta_{m,l}>."""
        gram = 0
        for a, d in zip(self.acts, self.deltas):
            inner = a @ a.transpose(1, 2) + 1.0                                      # (S, n, n)
            gram = gram + torch.einsum("snm,snko,smlo->snkml", inner, d, d)
        gram = gram.reshape(-1, self.n_out, self.n_out)
        return gram if self.head is None else self.head @ gram @ self.head.transpose(1, 2)

    def dense(self) -> torch.Tensor:
        """J itself, (S, R, P) (for checks)."""
        blocks = []
        for a, d in zip(self.acts, self.deltas):
            blocks += [(d.unsqueeze(-1) * a[:, :, None, None, :]).flatten(3), d]
        J = torch.cat(blocks, dim=-1).reshape(self.shape[0], self.n_out, -1)
        return J if self.head is None else self.head @ J


def batched_mlp(theta: torch.Tensor, x: torch.Tensor, sizes: list[int], slope: float
                ) -> tuple[torch.Tensor, MlpJacobian]:
    """Outputs y (S, n, k) and the Jacobian of S copies of Linear layers `sizes` with LeakyReLU(slope)
    between them (slope 0: ReLU) on inputs x (S or 1, n, sizes[0]), flat parameters theta (S, P)."""
    S, n = theta.shape[0], x.shape[-2]
    acts, pres, weights, offset = [x.expand(S, n, sizes[0])], [], [], 0
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = theta[:, offset:offset + d_in * d_out].view(S, d_out, d_in)
        b = theta[:, offset + d_in * d_out:offset + d_in * d_out + d_out]
        offset += d_in * d_out + d_out
        y = torch.einsum("soi,sni->sno", w, acts[-1]) + b.unsqueeze(1)
        weights.append(w)
        if i < len(sizes) - 2:
            pres.append(y)
            acts.append(torch.where(y > 0, y, slope * y))
    k = sizes[-1]
    delta = torch.eye(k, dtype=theta.dtype, device=theta.device).expand(S, n, k, k)
    deltas = [delta]
    for i in range(len(weights) - 1, 0, -1):
        slopes = torch.where(pres[i - 1] > 0, 1.0, slope).to(theta.dtype)
        delta = (delta @ weights[i].unsqueeze(1)) * slopes.unsqueeze(2)
        deltas.insert(0, delta)
    return y, MlpJacobian(acts, deltas)
