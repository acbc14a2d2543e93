"""Optimizers composed from parts (direction x magnitude x granularity), a registry of the named
ones, and the game schemes that step two players.

Every name is a one-line composition, as optax's `alias.py` builds `adam` or `lamb`:
AdaLR = sgd direction with Adam's norm grafted per tensor; AdaDir = Adam's direction with the
SGD norm grafted per tensor (Paper A, study.md A.2); nSGDA = normalized sgd per tensor
(`nsgda_layer`) or per player (`nsgda_global`).

The SGD part M_{W,1} of AdaLR/AdaDir is the raw stochastic gradient, not a momentum buffer:
the talk calls it "the SGD(A) update", the ablation is about Adam's direction vs Adam's norm
against *plain* SGDA (which has no momentum here), and then `adalr` is exactly `nsgda_layer`
with Adam's per-tensor step length (the later "Ada-nSGDA"). A momentum variant would be the
one-liner `OptimizerSpec(Momentum(), Graft(Adam()))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganopt.errors import ConfigError
from ganopt.optim.composed import ComposedOptimizer, composed_update
from ganopt.optim.directions import SGD, Adam, Direction, Momentum, Optimistic
from ganopt.optim.games import GAME_SCHEMES, Game
from ganopt.optim.magnitude import Constant, Graft, Magnitude, Same


@dataclass(frozen=True)
class OptimizerSpec:
    """A named composition; `scheme` None means the study config's scheme is used."""

    direction: Direction
    magnitude: Magnitude
    granularity: str = "tensor"
    scheme: str | None = None

    @property
    def hparams(self) -> dict[str, Any]:
        """Accepted hyperparameters with their defaults (besides lr)."""
        return {**self.direction.hparams, **self.magnitude.hparams}

    def __str__(self) -> str:
        scheme = f", scheme {self.scheme}" if self.scheme else ""
        return f"{self.direction} + {self.magnitude}, granularity {self.granularity}{scheme}"


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgda": OptimizerSpec(SGD(), Same()),
    "adam": OptimizerSpec(Adam(), Same()),
    "adalr": OptimizerSpec(SGD(), Graft(Adam())),
    "adadir": OptimizerSpec(Adam(), Graft(SGD())),
    "nsgda_layer": OptimizerSpec(SGD(), Constant()),
    "nsgda_global": OptimizerSpec(SGD(), Constant(), granularity="global"),
    "extra_sgd": OptimizerSpec(SGD(), Same(), scheme="extragradient"),
    "extra_adam": OptimizerSpec(Adam(), Same(), scheme="extragradient"),
    "ogda": OptimizerSpec(Optimistic(SGD()), Same(), scheme="simultaneous"),
    "optimistic_adam": OptimizerSpec(Optimistic(Adam()), Same(), scheme="simultaneous"),
    "negative_momentum": OptimizerSpec(Momentum(-0.5), Same(), scheme="alternating"),
}


def build_optimizer(name: str, named_params: list[tuple[str, torch.nn.Parameter]], lr: float | torch.Tensor,
                    batch_dims: int = 0, **hparams: Any) -> ComposedOptimizer:
    """The registry optimizer `name` over one player's named parameters (batch_dims: see ComposedOptimizer)."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {name!r} (expected one of {', '.join(OPTIMIZERS)}).")
    spec = OPTIMIZERS[name]
    try:
        return ComposedOptimizer(list(named_params), spec.direction, spec.magnitude, spec.granularity,
                                 lr=lr, batch_dims=batch_dims, **hparams)
    except ConfigError as err:
        raise ConfigError(f"Optimizer {name!r}: {err}") from None


__all__ = ["OPTIMIZERS", "GAME_SCHEMES", "ComposedOptimizer", "Game", "OptimizerSpec", "build_optimizer",
           "composed_update"]
