"""The `report:` config section as typed settings: which metric ranks GAN runs, what counts as a
collapse, the Adam-norm warm-up, and the thresholds each claim of study.md is judged against."""

from __future__ import annotations

from dataclasses import dataclass

from ganopt.config import schema_section


# Metric keys of fid.json records whose larger values are better; every other metric is lower-better.
@schema_section("report.schema.yaml#/properties/collapse")
@dataclass(frozen=True)
class CollapseConfig:
    """A run that finished but whose output is useless (study.md P.3's failure mode)."""

    fid_ratio: float  # an image run: final FID above fid_ratio x the best optimizer's median final FID
    max_modes: int  # a 2-D mixture run: at most this many modes covered at the end


@schema_section("report.schema.yaml#/properties/claims")
@dataclass(frozen=True)
class ClaimsConfig:
    """Thresholds of the claims table (our choices; the papers give orderings, not numbers)."""

    approx_max_ratio: float  # "X ~ Adam": X typically at most this factor worse (whole 95% interval)
    worse_min_ratio: float  # "X worse than Adam": at least this factor worse (whole 95% interval)
    plateau_share_min: float  # GAN claims: share of each optimizer's runs settled, else "not converged"
    norm_cv_max: float  # "Adam's norm ~ constant": median over seeds of the per-seed median CV
    gda_nonmonotone_share_min: float  # GDA: share of those runs whose V rises at least once
    ng_gan_ratio_max: float  # simple GAN: NG's final V over GDA's (same inits)


@schema_section("report.schema.yaml")
@dataclass(frozen=True)
class ReportConfig:
    """The `report:` section (workflow/schemas/report.schema.yaml documents every key)."""

    quality_metrics: tuple[str, ...]
    norm_warmup_frac: float
    norm_tensors: str  # weights (tensors not named *.bias) | all
    collapse: CollapseConfig
    claims: ClaimsConfig
