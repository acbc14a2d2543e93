"""Several GAN runs of one (dataset, optimizer) trained as one batched model: seeds and step sizes
differ, nets (MLPs), objective and settings are shared. Each run keeps its own initialization,
data order and noise (the same per-seed random streams as `GanSession`, so the numbers match the
one-seed path within float32 rounding) and its own optimizer norms (`batch_dims=1`).

Parameters are stacked along a leading run dimension S: a Linear layer becomes a batched matmul,
inputs are (S, N, ...). `VectorSession.seed(k)` views run k with GanSession's interface (step,
spec, shape, G, players, state_dict), so the per-run bookkeeping of ganopt.gan.train serves both."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ganopt.data import Prepared
from ganopt.errors import ConfigError
from ganopt.gan.losses import get_loss, gradient_penalty
from ganopt.gan.netconfig import vectorizable
from ganopt.gan.nets import Discriminator, Generator, build_pair
from ganopt.gan.session import RunSpec, divergence, game_scheme, linear_decay
from ganopt.optim import Game, build_optimizer
from ganopt.runtime import seed_everything


class BatchedLinear(nn.Module):
    """S independent Linear layers: x (S, N, in) -> (S, N, out); weight (S, out, in), bias (S, out)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


def _stack_layer(layers: list[nn.Module]) -> nn.Module:
    first = layers[0]
    if isinstance(first, nn.Linear):
        return BatchedLinear(layers)
    if isinstance(first, nn.Flatten):
        return nn.Flatten(first.start_dim + 1, first.end_dim)
    if isinstance(first, nn.Unflatten):
        return nn.Unflatten(first.dim + 1, first.unflattened_size)
    if isinstance(first, (nn.ReLU, nn.LeakyReLU, nn.Tanh)):
        return copy.deepcopy(first)
    raise ConfigError(f"layer {type(first).__name__} cannot be stacked into a batched model")


class BatchedDiscriminator(Discriminator):
    """S discriminators: (S, N, ...) -> (S, N) logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


def stack_nets(Gs: list[Generator], Ds: list[Discriminator]) -> tuple[Generator, BatchedDiscriminator]:
    """One batched G and D from S one-run nets of the same MLP architecture; parameter names
    stay those of the one-run nets (a run's slice loads into a one-run net)."""
    g_body = nn.Sequential(*[_stack_layer(list(ls)) for ls in zip(*[G.body for G in Gs])])
    d_body = nn.Sequential(*[_stack_layer(list(ls)) for ls in zip(*[D.body for D in Ds])])
    return Generator(g_body, Gs[0].z_dim), BatchedDiscriminator(d_body)


def slice_tree(tree: Any, k: int) -> Any:
    """Run k's part of a (nested) state: every tensor is indexed by k, everything else is kept."""
    if isinstance(tree, torch.Tensor):
        return tree[k].clone()
    if isinstance(tree, dict):
        return {key: slice_tree(value, k) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(slice_tree(value, k) for value in tree)
    return tree


def stack_trees(trees: list[Any]) -> Any:
    """Inverse of slice_tree: tensors are stacked along a new first dim, the rest taken from the first."""
    first = trees[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(trees)
    if isinstance(first, dict):
        return {key: stack_trees([t[key] for t in trees]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(stack_trees(list(values)) for values in zip(*trees))
    return first


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
    """Run k of a VectorSession, with the members of GanSession that the per-run bookkeeping uses."""

    def __init__(self, session: VectorSession, k: int) -> None:
        self.session, self.k = session, k
        self.spec, self.shape = session.specs[k], session.shape
        self.players = {"G": _SeedNorms(session.opt_g, k), "D": _SeedNorms(session.opt_d, k)}

    @property
    def step(self) -> int:
        return self.session.step

    @property
    def G(self) -> Generator:
        """Run k's generator as a one-run net (a copy of its current weights)."""
        G, _ = build_pair(self.spec.train.net, self.shape)
        G.load_state_dict(slice_tree(self.session.G.state_dict(), self.k))
        return G.to(self.session.device)

    def state_dict(self) -> dict:
        return self.session.seed_state(self.k)


class VectorSession:
    """S runs (RunSpecs differing only in seed and step sizes) trained in lockstep as one batched model."""

    def __init__(self, specs: list[RunSpec], data: Prepared, device: torch.device) -> None:
        first = specs[0]
        if any((s.optimizer, s.train, s.hparams) != (first.optimizer, first.train, first.hparams) for s in specs):
            raise ConfigError("vectorized runs must share optimizer, training settings and hyperparameters")
        if not vectorizable(first.train.net):
            raise ConfigError(f"the {first.train.net.arch} architecture cannot be vectorized (only mlp)")
        cfg = first.train
        self.specs, self.device, self.loss = specs, device, get_loss(cfg.loss)
        self.shape = tuple(data.train.shape[1:])
        Gs, Ds, self.init_rng = [], [], []
        for spec in specs:
            seed_everything(spec.seed)  # network initialization, as GanSession does it
            G, D = build_pair(cfg.net, self.shape)
            Gs.append(G)
            Ds.append(D)
            self.init_rng.append(torch.get_rng_state())
        self.G, self.D = (m.to(device) for m in stack_nets(Gs, Ds))
        self.train_data = data.train.to(device)
        self.gens = [torch.Generator().manual_seed(s.seed) for s in specs]
        self.base_lrs = [torch.tensor([getattr(s, key) for s in specs], device=device) for key in ("lr_g", "lr_d")]
        self.opt_g, self.opt_d = (
            build_optimizer(first.optimizer, list(net.named_parameters()), lr.clone(), batch_dims=1, **first.hparams)
            for net, lr in ((self.G, self.base_lrs[0]), (self.D, self.base_lrs[1])))
        self.game = Game(game_scheme(first.optimizer, cfg.scheme), self.opt_g, self.opt_d, n_dis=cfg.n_dis)
        if cfg.lr_decay not in ("none", "linear"):
            raise ConfigError(f"gan lr_decay must be none or linear, got '{cfg.lr_decay}'")
        self.cfg, self.step = cfg, 0
        self.active = [True] * len(specs)

    def seed(self, k: int) -> SeedView:
        return SeedView(self, k)

    def _draw(self, fn: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
        return torch.stack([fn(gen) for gen in self.gens]).to(self.device)

    def _real(self) -> torch.Tensor:
        n, b = len(self.train_data), self.cfg.batch_size
        return self.train_data[self._draw(lambda gen: torch.randint(n, (b,), generator=gen))]

    def _fake(self) -> torch.Tensor:
        return self.G(self._draw(lambda gen: torch.randn(self.cfg.batch_size, self.G.z_dim, generator=gen)))

    def d_loss(self) -> torch.Tensor:
        """Each run's D loss, shape (S,)."""
        real, fake = self._real(), self._fake().detach()
        loss = torch.func.vmap(self.loss.d)(self.D(real), self.D(fake))
        if self.loss.penalty:
            alpha = self._draw(lambda gen: torch.rand(self.cfg.batch_size, generator=gen))
            loss = loss + self.cfg.gp_weight * gradient_penalty(self.D, real, fake, alpha, batch_dims=1)
        return loss

    def g_loss(self) -> torch.Tensor:
        """Each run's G loss, shape (S,)."""
        return torch.func.vmap(self.loss.g)(self.D(self._fake()))

    def train_step(self) -> list[dict[str, float]]:
        """One generator iteration of every run; returns each run's losses and gradient norms."""
        if self.cfg.lr_decay == "linear":  # GanSession's LambdaLR factor, per-seed base step sizes
            factor = linear_decay(self.cfg.steps)(self.step)
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
        """Run k's resume state with GanSession's keys: its slice of nets and optimizer states
        (one-run parameter names and shapes), its generator and RNG state."""
        return {"step": self.step, **slice_tree(self._core_state(), k),
                "gen": self.gens[k].get_state(), "torch_rng": self.init_rng[k]}

    def load_seed_states(self, states: list[dict]) -> None:
        """Continue from every run's seed_state (all at the same step)."""
        steps = {s["step"] for s in states}
        if len(steps) != 1:
            raise ConfigError(f"vectorized runs can only resume from one common step, got {sorted(steps)}")
        core = stack_trees([{key: s[key] for key in ("G", "D", "game")} for s in states])
        self.G.load_state_dict(core["G"])
        self.D.load_state_dict(core["D"])
        self.game.load_state_dict(core["game"])
        for gen, state in zip(self.gens, states):
            gen.set_state(state["gen"])
        self.init_rng = [s["torch_rng"] for s in states]
        self.step = steps.pop()
