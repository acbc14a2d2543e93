"""GAN training runs in memory: S runs of one (dataset, optimizer), S = 1 included, trained in
lockstep as one batched model (ganopt.gan.batched) for every architecture. Runs differ in seed and
step sizes only (the seeds of a study, or a tuning grid x its seeds); nets, objective and settings
are shared. Each run keeps its own initialization, data order, latents and penalty mixing weights
(its own torch.Generator) and its own optimizer norms (`batch_dims=1`), so its numbers are those of
the same run trained alone, within float rounding.

`GanSession.train_step` advances every run; `seed(k)` views run k (step, spec, shape, G, players,
state_dict) for the per-run bookkeeping of ganopt.gan.train; `seed_state`/`load_seed_states` are
each run's resume state, in one-seed names and shapes."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ganopt.config import schema_section
from ganopt.data import Prepared
from ganopt.errors import ConfigError
from ganopt.gan.batched import slice_tree, stack_pair, stack_trees
from ganopt.gan.losses import get_loss, gradient_penalty
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import Generator, build_pair
from ganopt.optim import GAME_SCHEMES, OPTIMIZERS, Game, build_optimizer
from ganopt.runtime import seed_everything

CONFIG_SCHEMES = ("simultaneous", "alternating")  # what config may ask for; others are fixed by an optimizer
LR_DECAYS = ("none", "linear")
AUTOCASTS = {"none": None, "bf16": torch.bfloat16}


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
    compile: bool  # torch.compile the nets' forward passes (the gradient penalty's stays eager)
    autocast: str  # none | bf16 (forward passes under torch.autocast)
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


def lr_factor(decay: str, step: int, steps: int) -> float:
    """The step-size factor at `step` (0-based) of a `steps`-step run: 1 for none; for linear
    max(0, 1 - step / steps), decaying to 0 at the last step as in WGAN-GP."""
    if decay not in LR_DECAYS:
        raise ConfigError(f"gan lr_decay must be one of {', '.join(LR_DECAYS)}, got '{decay}'")
    return max(0.0, 1.0 - step / steps) if decay == "linear" else 1.0


class _SeedNorms:
    """One run's view of a batched optimizer's last norms (what RunLog.add_norms reads)."""

    def __init__(self, opt: torch.optim.Optimizer, k: int) -> None:
        self.opt, self.k = opt, k

    @property
    def last_update_norms(self) -> dict[str, float]:
        return {name: values[self.k] for name, values in self.opt.last_update_norms.items()}

    @property
    def last_direction_norms(self) -> dict[str, float]:
        return {name: values[self.k] for name, values in self.opt.last_direction_norms.items()}


class SeedView:
    """Run k of a GanSession: its step, spec, sample shape, generator, player norms and resume state."""

    def __init__(self, session: GanSession, k: int) -> None:
        self.session, self.k = session, k
        self.spec, self.shape = session.specs[k], session.shape
        self.players = {"G": _SeedNorms(session.opt_g, k), "D": _SeedNorms(session.opt_d, k)}

    @property
    def step(self) -> int:
        return self.session.step

    @property
    def G(self) -> Generator:
        """Run k's generator as a one-seed net (a copy of its current weights and batch statistics)."""
        with torch.random.fork_rng(devices=[]):  # building the net draws an init that the weights replace
            G, _ = build_pair(self.spec.train.net, self.shape)
        G.load_state_dict(slice_tree(self.session.G.state_dict(), self.k))
        return G.to(self.session.device)

    def state_dict(self) -> dict:
        return self.session.seed_state(self.k)


class GanSession:
    """S runs (RunSpecs differing only in seed and step sizes) trained in lockstep as one batched model."""

    def __init__(self, specs: list[RunSpec], data: Prepared, device: torch.device) -> None:
        first = specs[0]
        if any((s.optimizer, s.train, s.hparams) != (first.optimizer, first.train, first.hparams) for s in specs):
            raise ConfigError("the runs of a session must share optimizer, training settings and hyperparameters")
        cfg = first.train
        lr_factor(cfg.lr_decay, 0, cfg.steps)  # a bad decay name fails here, not at the first step
        if cfg.autocast not in AUTOCASTS:
            raise ConfigError(f"gan autocast must be one of {', '.join(AUTOCASTS)}, got '{cfg.autocast}'")
        self.specs, self.cfg, self.device, self.loss = specs, cfg, device, get_loss(cfg.loss)
        self.shape = tuple(data.train.shape[1:])
        Gs, Ds, self.init_rng = [], [], []
        for spec in specs:
            seed_everything(spec.seed)  # network initialization: each run's nets are those of its seed
            G, D = build_pair(cfg.net, self.shape)
            Gs.append(G)
            Ds.append(D)
            self.init_rng.append(torch.get_rng_state())
        self.G, self.D = (m.to(device) for m in stack_pair(Gs, Ds))
        # compiled forward passes share the eager modules' parameters; double backward (the penalty) needs eager
        self.g_forward, self.d_forward = (torch.compile(m) if cfg.compile else m for m in (self.G, self.D))
        self.train_data = data.train.to(device)
        self.gens = [torch.Generator().manual_seed(s.seed) for s in specs]
        self.base_lrs = [torch.tensor([getattr(s, key) for s in specs], device=device) for key in ("lr_g", "lr_d")]
        self.opt_g, self.opt_d = (
            build_optimizer(first.optimizer, list(net.named_parameters()), lr.clone(), batch_dims=1, **first.hparams)
            for net, lr in ((self.G, self.base_lrs[0]), (self.D, self.base_lrs[1])))
        self.game = Game(game_scheme(first.optimizer, cfg.scheme), self.opt_g, self.opt_d, n_dis=cfg.n_dis)
        self.step = 0
        self.active = [True] * len(specs)

    def seed(self, k: int) -> SeedView:
        return SeedView(self, k)

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCASTS[self.cfg.autocast]
        return torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def _draw(self, fn: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
        return torch.stack([fn(gen) for gen in self.gens]).to(self.device)

    def _real(self) -> torch.Tensor:
        n, b = len(self.train_data), self.cfg.batch_size
        return self.train_data[self._draw(lambda gen: torch.randint(n, (b,), generator=gen))]

    def _fake(self) -> torch.Tensor:
        return self.g_forward(self._draw(lambda gen: torch.randn(self.cfg.batch_size, self.G.z_dim, generator=gen)))

    def d_loss(self) -> torch.Tensor:
        """Each run's D loss on fresh real batches and fakes (plus the gradient penalty), shape (S,)."""
        with self._autocast():
            real, fake = self._real(), self._fake().detach()
            loss = self.loss.d(self.d_forward(real), self.d_forward(fake))
            if self.loss.penalty:
                alpha = self._draw(lambda gen: torch.rand(self.cfg.batch_size, generator=gen))
                loss = loss + self.cfg.gp_weight * gradient_penalty(self.D, real, fake, alpha, batch_dims=1)
        return loss

    def g_loss(self) -> torch.Tensor:
        """Each run's G loss on fresh fakes, shape (S,)."""
        with self._autocast():
            return self.loss.g(self.d_forward(self._fake()))

    def train_step(self) -> list[dict[str, float]]:
        """One generator iteration of every run; returns each run's losses and gradient norms."""
        factor = lr_factor(self.cfg.lr_decay, self.step, self.cfg.steps)
        for opt, base in zip((self.opt_g, self.opt_d), self.base_lrs):
            opt.param_groups[0]["lr"] = base * factor
        out = self.game.step(self.d_loss, self.g_loss)
        self.step += 1
        return [{key: values[k] for key, values in out.items()} for k in range(len(self.specs))]

    def run(self, until: int, on_step: Callable[[int, dict[str, float], str | None], None] | None = None
            ) -> list[str | None]:
        """Train the active runs up to step `until`, calling on_step(k, out, reason) for each active
        run after each step; a run that diverges stops being active (its slice still computes,
        unused). Returns each run's divergence reason or None."""
        reasons: list[str | None] = [None] * len(self.specs)
        while self.step < until and any(self.active):
            outs = self.train_step()
            for k, out in enumerate(outs):
                if not self.active[k]:
                    continue
                reasons[k] = divergence(out, self.cfg.max_loss)
                if on_step is not None:
                    on_step(k, out, reasons[k])
                self.active[k] = reasons[k] is None
        return reasons

    def _core_state(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "game": self.game.state_dict()}

    def seed_state(self, k: int) -> dict:
        """Run k's resume state: its slice of nets and optimizer states (one-seed parameter names
        and shapes), its generator and the RNG state after its initialization."""
        return {"step": self.step, **slice_tree(self._core_state(), k),
                "gen": self.gens[k].get_state(), "torch_rng": self.init_rng[k]}

    def load_seed_states(self, states: list[dict]) -> None:
        """Continue from every run's seed_state (all at the same step)."""
        steps = {s["step"] for s in states}
        if len(steps) != 1:
            raise ConfigError(f"the runs of a session can only resume from one common step, got {sorted(steps)}")
        core = stack_trees([{key: s[key] for key in ("G", "D", "game")} for s in states])
        self.G.load_state_dict(core["G"])
        self.D.load_state_dict(core["D"])
        self.game.load_state_dict(core["game"])
        for gen, state in zip(self.gens, states):
            gen.set_state(state["gen"])
        self.init_rng = [s["torch_rng"] for s in states]
        self.step = steps.pop()
