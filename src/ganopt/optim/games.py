"""Game schemes: orderings of two players' optimizer steps (one level above the optimizers).

Each player minimizes its own loss (the discriminator's loss is minus its objective). A scheme
is a list of phases; a phase evaluates the listed players' gradients at the same point and
steps them ("move"):
- simultaneous: (n_dis - 1) D-only phases, then one phase with D and G together;
- alternating: n_dis D-only phases, then a G-only phase, so G sees the updated D;
- extragradient: the simultaneous phases, each an extragradient move (Korpelevich 1976;
  Gidel et al. 2019): step from w_t to w_{t+1/2} with F(w_t), re-evaluate F(w_{t+1/2}),
  restore w_t and step with F(w_{t+1/2}). Both steps go through the optimizer, so for Adam
  both gradients feed the moments and advance the step count, as in Gidel et al.'s
  ExtraAdam (`extrapolation()` then `step()`), and momentum buffers see both gradients too.
Optimistic methods are a direction (`optimistic(...)`) used with the simultaneous scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganopt.errors import ConfigError
from ganopt.optim.composed import ComposedOptimizer
from ganopt.optim.magnitude import tensor_norms

GAME_SCHEMES = ("simultaneous", "alternating", "extragradient")

LossFn = Callable[[], Tensor]
Player = tuple[str, ComposedOptimizer, LossFn]


def _params(opt: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in opt.param_groups for p in group["params"] if p.requires_grad]


def _set_grads(opt: ComposedOptimizer, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
    """Evaluate the player's loss and store its gradient w.r.t. the player's own parameters
    only (the other player's parameters get none); return (loss, global gradient norm).
    With batched optimizers (batch_dims > 0) the loss has the batch shape, one loss per
    independent problem, and both come back per batch index."""
    params = _params(opt)
    loss = loss_fn()
    grads = torch.autograd.grad(loss.sum(), params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = g
    present = [g for g in grads if g is not None]
    norm = torch.linalg.vector_norm(tensor_norms(present, opt.batch_dims), dim=0) if present \
        else torch.zeros_like(loss.detach())
    return loss.detach(), norm


class Game:
    """Two players' optimizers stepped in the order of `scheme`, n_dis D steps per G step."""

    def __init__(self, scheme: str, opt_g: ComposedOptimizer, opt_d: ComposedOptimizer, n_dis: int = 1):
        if scheme not in GAME_SCHEMES:
            raise ConfigError(f"Unknown game scheme {scheme!r} (expected one of {', '.join(GAME_SCHEMES)}).")
        if isinstance(n_dis, bool) or not isinstance(n_dis, int) or n_dis < 1:
            raise ConfigError(f"Invalid n_dis: {n_dis!r} (expected an integer >= 1).")
        self.scheme, self.opt_g, self.opt_d, self.n_dis = scheme, opt_g, opt_d, n_dis

    def _phases(self, d: Player, g: Player) -> list[list[Player]]:
        if self.scheme == "alternating":
            return [[d]] * self.n_dis + [[g]]
        return [[d]] * (self.n_dis - 1) + [[d, g]]

    def step(self, d_loss_fn: LossFn, g_loss_fn: LossFn) -> dict[str, Any]:
        """One generator iteration; returns the losses and gradient norms of each player's last
        evaluation (for extragradient: at the point before extrapolation); with batched
        optimizers each value is a (nested) list of the batch shape."""
        move = self._extragradient_move if self.scheme == "extragradient" else self._plain_move
        record: dict[str, Tensor] = {}
        for phase in self._phases(("D", self.opt_d, d_loss_fn), ("G", self.opt_g, g_loss_fn)):
            record.update(move(phase))
        keys = ("loss/D", "loss/G", "grad_norm/D", "grad_norm/G")
        values = torch.stack([record[k].float() for k in keys]).tolist()  # one sync per step
        return dict(zip(keys, values))

    @staticmethod
    def _evaluate(phase: list[Player]) -> dict[str, Tensor]:
        out = {}
        for name, opt, loss_fn in phase:
            out[f"loss/{name}"], out[f"grad_norm/{name}"] = _set_grads(opt, loss_fn)
        return out

    def _plain_move(self, phase: list[Player]) -> dict[str, Tensor]:
        out = self._evaluate(phase)
        for _, opt, _ in phase:
            opt.step()
        return out

    def _extragradient_move(self, phase: list[Player]) -> dict[str, Tensor]:
        params = [_params(opt) for _, opt, _ in phase]
        with torch.no_grad():
            saved = [[p.detach().clone() for p in ps] for ps in params]
        out = self._plain_move(phase)  # extrapolation to w_{t+1/2}
        self._evaluate(phase)  # F(w_{t+1/2})
        with torch.no_grad():
            for ps, copies in zip(params, saved):
                torch._foreach_copy_(ps, copies)
        for _, opt, _ in phase:
            opt.step()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "n_dis": self.n_dis,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["scheme"], state["n_dis"]) != (self.scheme, self.n_dis):
            raise ConfigError(f"Checkpoint was written by scheme {state['scheme']!r} with n_dis={state['n_dis']}, "
                              f"not {self.scheme!r} with n_dis={self.n_dis}.")
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
