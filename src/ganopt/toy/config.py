"""Typed settings of one toy-theorem job (the `toy:` config section plus one optimizer's step sizes
per d) and the parametrization family of the toy as functions of d (torch-free: the report reads
it). The formulas are documented in toy.schema.yaml."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganopt.config import schema_section
from ganopt.errors import ConfigError

# Optimizer registry names the toy runs (any registry composition would do; these are the claims').
TOY_OPTIMIZERS = ("sgda", "nsgda_global", "nsgda_layer", "adam")
# Step sizes of these follow Thm 4.1's regime eta_G = ratio sqrt(d eta_D) / ln(d)^2 when tuned;
# the others' eta_G = ratio eta_D.
REGIME_41 = ("sgda",)


def latent_width(d: int, m_per_log: float) -> int:
    """m_G = m_D = ceil(m_per_log ln d): widths growing with log d."""
    return max(2, math.ceil(m_per_log * math.log(d)))


def horizon(d: int, steps_per_log: float) -> int:
    """T(d) = ceil(steps_per_log ln d): the last step, where every event is read."""
    return math.ceil(steps_per_log * math.log(d))


def init_norm(d: int, scale: float) -> float:
    """Expected norm of a generator column / discriminator row at init: scale / ln d."""
    return scale / math.log(d)


def single_latent_mass(m: int, pair_fraction: float) -> float:
    """Pr[z = e_i], the probability of one latent coordinate: "one latent's worth" (1/m_G without pairs)."""
    return (1 - pair_fraction) / m


def tuned_pair(optimizer: str, d: int, lr_d: float, ratio: float) -> tuple[float, float]:
    """(eta_G, eta_D) of one tuning grid point: Thm 4.1's regime for SGDA, a ratio otherwise."""
    lr_g = ratio * math.sqrt(d * lr_d) / math.log(d) ** 2 if optimizer in REGIME_41 else ratio * lr_d
    return lr_g, lr_d


@schema_section("toy.schema.yaml", omit=("activate", "optimizers", "tune"),
                lr_g="toy.schema.yaml#/$defs/settings/properties/lr_g",
                lr_d="toy.schema.yaml#/$defs/settings/properties/lr_d")
@dataclass(frozen=True)
class ToyConfig:
    """Every constant of the two-mode toy (Paper A, Section 4); defaults documented in toy.schema.yaml.
    Each d is one setting (with every u_cos); lr_g and lr_d hold one value per d, in d's order."""

    lr_g: tuple[float, ...]       # eta_G(d)
    lr_d: tuple[float, ...]       # eta_D(d)
    n_seeds: int
    steps_per_log: float          # T(d) = ceil(steps_per_log ln d)
    eval_every: int
    batch_size: int
    d: tuple[int, ...]
    u_cos: tuple[float, ...]      # <u1, u2>, both unit vectors
    m_per_log: float              # m_G = m_D = ceil(m_per_log ln d)
    mix: float                    # Pr[X = u1]
    pair_fraction: float          # fraction of latents with two active coordinates
    cubic_threshold: float        # Lambda of the truncated cubic
    a: float
    lam: float                    # lambda, the weight of the bias b in the logit
    train_bias: bool
    init_g: float                 # ||v_i(0)|| = init_g / ln d
    init_d: float                 # ||w_i(0)|| = init_d / ln d
    betas: tuple[float, float]
    adam_eps: float
    cone: float                   # cone half-angle as a fraction of angle(u1, u2)
    moved_factor: float           # "moved": ||G_t(z) - G_0(z)|| >= moved_factor ||G_0(z)||
    collapse_min: float           # a run collapses when p_s >= this
    strict_min: float             # the stricter secondary recovery rule: min(p1, p2) >= this
    seed_share_min: float         # a per-d claim holds when its share of seeds is above this
    dtype: str
    chunk: int                    # steps of random draws made at once (per seed, then batched)

    def __post_init__(self) -> None:
        # JSON gives lists; keep the frozen config hashable and uniform.
        for name, kind in (("d", int), ("u_cos", float), ("betas", float), ("lr_g", float), ("lr_d", float)):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"toy {name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(kind(x) for x in value))
        if not self.d or not self.u_cos:
            raise ConfigError("toy d and u_cos each need at least one value")
        for name in ("lr_g", "lr_d"):
            values = getattr(self, name)
            if len(values) != len(self.d):
                raise ConfigError(f"toy {name} needs one step size per d ({len(self.d)}: {list(self.d)}), "
                                  f"got {len(values)}")
            if any(not 0 < v < math.inf for v in values):
                raise ConfigError(f"toy {name} values must be finite positive numbers, got {list(values)}")
        if any(not 0 < c < 1 for c in self.u_cos):
            raise ConfigError(f"toy u_cos values must lie in (0, 1), got {list(self.u_cos)}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"toy dtype '{self.dtype}' is not one of float32, float64")

    def m(self, d: int) -> int:
        return latent_width(d, self.m_per_log)

    def steps(self, d: int) -> int:
        return horizon(d, self.steps_per_log)

    def lrs(self, d: int) -> tuple[float, float]:
        """(eta_G, eta_D) at d."""
        i = self.d.index(d)
        return self.lr_g[i], self.lr_d[i]
