"""Typed settings of one toy-theorem job (the `toy:` config section plus one optimizer's step sizes)."""

from __future__ import annotations

from dataclasses import dataclass

from ganopt.config import schema_section
from ganopt.errors import ConfigError

# The update rules the batched toy implements; names are the project's optimizer registry keys.
TOY_OPTIMIZERS = ("sgda", "nsgda_global", "nsgda_layer", "adam")


@schema_section("toy.schema.yaml", omit=("activate", "optimizers"), lrs="toy.schema.yaml#/$defs/settings/properties/lrs")
@dataclass(frozen=True)
class ToyConfig:
    """Every constant of the two-mode toy (Paper A, Section 4); defaults documented in toy.schema.yaml."""

    lrs: tuple[tuple[float, float], ...]  # (eta_G, eta_D) settings, all batched with the seeds
    n_seeds: int
    steps: int
    eval_every: int
    batch_size: int
    d: int
    m_g: int
    m_d: int
    u_cos: float  # <u1, u2>, both unit vectors
    mix: float  # Pr[X = u1]
    pair_fraction: float  # fraction of latents with two active coordinates
    cubic_threshold: float  # Lambda of the truncated cubic
    a: float
    lam: float  # lambda, the weight of the bias b in the logit
    train_bias: bool
    init_g: float  # expected norm of each generator column v_i at init
    init_d: float  # expected norm of each discriminator row w_i at init
    betas: tuple[float, float]
    adam_eps: float
    recover_cos: float  # cos threshold for "latent recovered mode l"
    moved_factor: float  # "moved": ||v_i(t) - v_i(0)|| >= moved_factor * ||v_i(0)||
    both_modes_min: float  # a seed "recovers both modes" when both recoveries reach this
    dtype: str
    chunk: int  # steps of random draws made at once (per seed, then batched)

    def __post_init__(self) -> None:
        if not self.lrs or any(len(p) != 2 or min(p) <= 0 for p in self.lrs):
            raise ConfigError("toy lrs must be a non-empty list of [lr_g, lr_d] pairs of positive numbers")
        # JSON gives lists; keep the frozen config hashable and uniform.
        object.__setattr__(self, "lrs", tuple((float(g), float(d)) for g, d in self.lrs))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"toy dtype '{self.dtype}' is not one of float32, float64")
        if self.m_g < 2 and self.pair_fraction > 0:
            raise ConfigError("toy pair_fraction > 0 needs m_g >= 2 (a pair needs two coordinates)")
