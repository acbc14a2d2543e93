"""The `report:` config section as typed settings: which metric ranks GAN runs, what counts as a
collapse, the Adam-norm warm-up, and the thresholds each claim of study.md is judged against."""

from __future__ import annotations

from dataclasses import dataclass, field

# Metric keys of fid.json records whose larger values are better; every other metric is lower-better.
HIGHER_IS_BETTER = ("modes_covered", "high_quality_frac")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (a fid.json record key) means a better generator."""
    return metric in HIGHER_IS_BETTER


@dataclass(frozen=True)
class CollapseConfig:
    """A run that finished but whose output is useless (study.md P.3's failure mode)."""

    fid_ratio: float = 5.0   # an image run: final FID above fid_ratio x the best optimizer's median final FID
    max_modes: int = 1       # a 2-D mixture run: at most this many modes covered at the end


@dataclass(frozen=True)
class ClaimsConfig:
    """Thresholds of the claims table (our choices; the papers give orderings, not numbers)."""

    approx_max_ratio: float = 1.25         # "X ~ Adam": X's median final metric at most this factor worse
    worse_min_ratio: float = 1.25          # "X worse than Adam": at least this factor worse
    norm_cv_max: float = 0.5               # "Adam's norm ~ constant": median coefficient of variation
    toy_collapse_cos_min: float = 0.9      # SGDA collapse: peak seed-mean |cos(G(z), u1+u2)|, moved latents
    toy_recovery_share_min: float = 0.5    # nSGDA recovery: share of seeds recovering both modes at the end
    ng_monotone_share_min: float = 0.8     # NG: share of runs (regularized games) whose V never rises
    gda_nonmonotone_share_min: float = 0.5  # GDA: share of those runs whose V rises at least once
    ng_gan_ratio_max: float = 1.0          # simple GAN: median over seeds of NG's final V over GDA's


@dataclass(frozen=True)
class ReportConfig:
    """The `report:` section (workflow/schemas/report.schema.yaml documents every key)."""

    quality_metrics: tuple[str, ...] = ("fid_domain", "fid_inception", "modes_covered")
    norm_warmup_frac: float = 0.1
    norm_tensors: str = "weights"          # weights (tensors not named *.bias) | all
    collapse: CollapseConfig = field(default_factory=CollapseConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
