"""Typed settings of one toy-theorem job (the `toy:` config section plus one optimizer's step sizes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganopt.config import schema_section
from ganopt.errors import ConfigError

# Optimizer registry names the toy runs (any registry composition would do; these are the claims').
TOY_OPTIMIZERS = ("sgda", "nsgda_global", "nsgda_layer", "adam")


@schema_section("toy.schema.yaml", omit=("activate", "optimizers"),
                lr_g="toy.schema.yaml#/$defs/settings/properties/lr_g",
                lr_d="toy.schema.yaml#/$defs/settings/properties/lr_d")
@dataclass(frozen=True)
class ToyConfig:
    """Every constant of the two-mode toy (Paper A, Section 4); defaults documented in toy.schema.yaml.
    `d`, `u_cos` and `init_scale` are the sweep: every combination is one setting, the first
    entries make the headline setting drawn over time."""

    lr_g: float                   # eta_G, the same in every sweep setting
    lr_d: float                   # eta_D
    n_seeds: int
    steps: int
    eval_every: int
    batch_size: int
    d: tuple[int, ...]
    u_cos: tuple[float, ...]  # <u1, u2>, both unit vectors
    init_scale: tuple[float, ...]  # multiplies init_g and init_d
    m_g: int
    m_d: int
    mix: float  # Pr[X = u1]
    pair_fraction: float  # fraction of latents with two active coordinates
    cubic_threshold: float  # Lambda of the truncated cubic
    a: float
    lam: float  # lambda, the weight of the bias b in the logit
    train_bias: bool
    init_g: float  # expected norm of each generator column v_i at init (x init_scale)
    init_d: float  # expected norm of each discriminator row w_i at init (x init_scale)
    betas: tuple[float, float]
    adam_eps: float
    angle_margin: float  # margin of the collapse/recovery rules, as a fraction of angle(u1, u2)
    moved_factor: float  # "moved": ||v_i(t) - v_i(0)|| >= moved_factor * ||v_i(0)||
    collapse_min: float  # a seed collapses when this share of all latents is collapsed
    both_modes_min: float  # a seed recovers both modes when each mode has this share of latents
    seed_share_min: float  # a claim holds in a setting when its share of seeds is above this
    dtype: str
    chunk: int  # steps of random draws made at once (per seed, then batched)

    def __post_init__(self) -> None:
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ConfigError(f"toy {name} must be a finite positive number, got {value!r}")
        # JSON gives lists; keep the frozen config hashable and uniform.
        for name, kind in (("d", int), ("u_cos", float), ("init_scale", float), ("betas", float)):
            object.__setattr__(self, name, tuple(kind(x) for x in getattr(self, name)))
        if not self.d or not self.u_cos or not self.init_scale:
            raise ConfigError("toy d, u_cos and init_scale each need at least one value")
        if any(not 0 < c < 1 for c in self.u_cos):
            raise ConfigError(f"toy u_cos values must lie in (0, 1), got {list(self.u_cos)}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"toy dtype '{self.dtype}' is not one of float32, float64")
        if self.m_g < 2 and self.pair_fraction > 0:
            raise ConfigError("toy pair_fraction > 0 needs m_g >= 2 (a pair needs two coordinates)")

    @property
    def headline(self) -> tuple[int, float, float]:
        """The (d, u_cos, init_scale) setting drawn over time: the first of each sweep list."""
        return self.d[0], self.u_cos[0], self.init_scale[0]

    @property
    def settings(self) -> list[tuple[float, float]]:
        """The (u_cos, init_scale) pairs batched in one simulation of a given d, headline first."""
        return [(c, s) for c in self.u_cos for s in self.init_scale]
