"""One GAN training run in memory: nets, player optimizers, game scheme and the run's own
random generator; `train_step` advances it, `state_dict` captures everything a bit-identical
resume needs (models, optimizers, schedulers, RNG states, step)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ganopt.config import schema_section
from ganopt.data import Prepared
from ganopt.errors import ConfigError
from ganopt.gan.losses import get_loss, gradient_penalty
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import build_pair
from ganopt.optim import GAME_SCHEMES, OPTIMIZERS, Game, build_optimizer
from ganopt.runtime import seed_everything

CONFIG_SCHEMES = ("simultaneous", "alternating")  # what config may ask for; others are fixed by an optimizer


@schema_section("gan.schema.yaml#/$defs/train")
@dataclass(frozen=True)
class TrainConfig:
    """Budget, objective, game and bookkeeping intervals of one run (the `gan.datasets.<d>.train` section)."""

    steps: int  # generator iterations
    batch_size: int  # real and fake samples per loss evaluation
    loss: str  # minimax | nonsaturating | wgan_gp
    gp_weight: float  # gradient-penalty weight (wgan_gp only)
    scheme: str  # simultaneous | alternating (extragradient optimizers override it)
    n_dis: int  # discriminator steps per generator step
    lr_decay: str  # none | linear (to 0 at the last step, as in WGAN-GP)
    net: NetConfig
    metrics_every: int  # rows of metrics.csv (and MLflow loss metrics)
    norms_every: int  # rows of norms.csv (per-tensor update/direction norms)
    log_every: int  # progress lines in the job log
    checkpoint_every: int  # resume checkpoints
    snapshot_every: int  # generator snapshots for FID over training
    max_loss: float  # |loss| above this (or NaN/inf) stops the run as diverged


@dataclass(frozen=True)
class RunSpec:
    """What decides a run's numbers besides the data: optimizer, step sizes, seed, settings."""

    optimizer: str
    lr_g: float
    lr_d: float
    seed: int
    train: TrainConfig
    hparams: dict = field(default_factory=dict)   # build_optimizer keyword arguments (betas, eps, momentum)


def game_scheme(optimizer: str, configured: str) -> str:
    """The registry's fixed scheme of `optimizer` (e.g. extragradient), else the configured one."""
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer '{optimizer}' (known: {', '.join(OPTIMIZERS)})")
    if configured not in CONFIG_SCHEMES:
        raise ConfigError(f"gan scheme must be one of {', '.join(CONFIG_SCHEMES)}, got '{configured}'")
    fixed = OPTIMIZERS[optimizer].scheme
    assert fixed is None or fixed in GAME_SCHEMES
    return fixed or configured


def optimizer_kwargs(hparams: dict) -> dict:
    """Config hyperparameters as build_optimizer takes them (JSON lists become tuples, e.g. betas)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hparams.items()}


def divergence(out: dict[str, float], max_loss: float) -> str | None:
    """Why a step's losses/gradient norms count as diverged (non-finite or |loss| > max_loss), else None."""
    for key, value in out.items():
        if not math.isfinite(value):
            return f"{key} is {value}"
    for key in ("loss/D", "loss/G"):
        if abs(out[key]) > max_loss:
            return f"|{key}| = {abs(out[key]):.3g} exceeds max_loss {max_loss:g}"
    return None


def _check_decay(name: str) -> str:
    if name not in ("none", "linear"):
        raise ConfigError(f"gan lr_decay must be none or linear, got '{name}'")
    return name


def linear_decay(steps: int) -> Callable[[int], float]:
    """The lr factor of linear decay to 0 at the last step (as in WGAN-GP): max(0, 1 - step / steps)."""
    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / steps)
    return factor


class GanSession:
    """Models, optimizers and game of one run, seeded from `spec.seed`."""

    def __init__(self, spec: RunSpec, data: Prepared, device: torch.device) -> None:
        cfg = spec.train
        seed_everything(spec.seed)  # network initialization
        self.spec, self.device, self.loss = spec, device, get_loss(cfg.loss)
        self.shape = tuple(data.train.shape[1:])
        self.G, self.D = (m.to(device) for m in build_pair(cfg.net, self.shape))
        self.train_data = data.train.to(device)
        self.gen = torch.Generator().manual_seed(spec.seed)  # batches, latents, penalty mixing weights
        self.opt_g = build_optimizer(spec.optimizer, list(self.G.named_parameters()), spec.lr_g, **spec.hparams)
        self.opt_d = build_optimizer(spec.optimizer, list(self.D.named_parameters()), spec.lr_d, **spec.hparams)
        self.game = Game(game_scheme(spec.optimizer, cfg.scheme), self.opt_g, self.opt_d, n_dis=cfg.n_dis)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, linear_decay(cfg.steps))
                           for opt in (self.opt_g, self.opt_d)] if _check_decay(cfg.lr_decay) == "linear" else []
        self.step = 0

    @property
    def players(self) -> dict[str, torch.optim.Optimizer]:
        """Each player's optimizer (whose last norms the run logs)."""
        return {"G": self.opt_g, "D": self.opt_d}

    def _real(self) -> torch.Tensor:
        idx = torch.randint(len(self.train_data), (self.spec.train.batch_size,), generator=self.gen)
        return self.train_data[idx.to(self.device)]

    def _fake(self) -> torch.Tensor:
        z = torch.randn(self.spec.train.batch_size, self.G.z_dim, generator=self.gen)
        return self.G(z.to(self.device))

    def d_loss(self) -> torch.Tensor:
        """D's loss on a fresh real batch and fresh fakes (plus the gradient penalty for wgan_gp)."""
        real, fake = self._real(), self._fake().detach()
        loss = self.loss.d(self.D(real), self.D(fake))
        if self.loss.penalty:
            alpha = torch.rand(len(real), generator=self.gen).to(self.device)
            loss = loss + self.spec.train.gp_weight * gradient_penalty(self.D, real, fake, alpha)
        return loss

    def g_loss(self) -> torch.Tensor:
        """G's loss on fresh fakes."""
        return self.loss.g(self.D(self._fake()))

    def train_step(self) -> dict[str, float]:
        """One generator iteration of the game; returns losses and gradient norms."""
        out = self.game.step(self.d_loss, self.g_loss)
        for scheduler in self.schedulers:
            scheduler.step()
        self.step += 1
        return out

    def run(self, until: int, on_step: Callable[[dict[str, float], str | None], None] | None = None) -> str | None:
        """Train up to step `until`, calling on_step(out, divergence reason) after each step; return
        the divergence reason (stopping there) or None."""
        while self.step < until:
            out = self.train_step()
            reason = divergence(out, self.spec.train.max_loss)
            if on_step is not None:
                on_step(out, reason)
            if reason is not None:
                return reason
        return None

    def state_dict(self) -> dict:
        """Everything a bit-identical continuation needs."""
        return {"step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "game": self.game.state_dict(), "schedulers": [s.state_dict() for s in self.schedulers],
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.game.load_state_dict(state["game"])
        for scheduler, s in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(s)
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = state["step"]
