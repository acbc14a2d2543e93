"""The claims table: each claim of study.md judged on this study's runs. A claim gets a statistic
computed from the tables, a threshold from the `report.claims` config and a verdict: holds, does
not hold, or not evaluated (its inputs are not part of the study, with the reason)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ganopt.report.config import ClaimsConfig, higher_is_better
from ganopt.report.plan import StudyPlan

HOLDS, FAILS, SKIPPED = "holds", "does not hold", "not evaluated"
COLUMNS = ["id", "claim", "source", "scope", "statistic", "value", "threshold", "verdict", "note"]

# (id, claim, study.md reference, optimizer compared with Adam, direction, ClaimsConfig threshold field)
VERSUS_ADAM = (
    ("adalr_as_good_as_adam", "AdaLR (Adam's norm, SGD's direction) is as good as Adam", "A.1.1, E-A1",
     "adalr", "<=", "approx_max_ratio"),
    ("adadir_worse_than_adam", "AdaDir (Adam's direction, SGD's norm) is worse than Adam", "E-A1",
     "adadir", ">=", "worse_min_ratio"),
    ("sgda_worse_than_adam", "SGDA is worse than Adam", "A.1.4, E-A1", "sgda", ">=", "worse_min_ratio"),
    ("nsgda_layer_as_good_as_adam", "layer-normalized SGDA works as well as Adam", "A.1.3, E-A3",
     "nsgda_layer", "<=", "approx_max_ratio"),
    ("nsgda_global_as_good_as_adam", "globally normalized SGDA works as well as Adam", "A.1.3, E-A3",
     "nsgda_global", "<=", "approx_max_ratio"),
)
TOY_NORMALIZED = ("nsgda_global", "nsgda_layer")
NG_EXPERIMENTS = ("warmup", "rps")


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    scope: str
    statistic: str
    value: float
    threshold: str
    verdict: str
    note: str


def judge(value: float, op: str, threshold: float) -> str:
    """holds / does not hold for a finite-or-infinite value; not evaluated for NaN."""
    if value is None or math.isnan(value):
        return SKIPPED
    return HOLDS if (value <= threshold if op == "<=" else value >= threshold) else FAILS


def _claim(id_: str, claim: str, source: str, scope: str, statistic: str, value: float, op: str,
           threshold: float, note: str) -> Claim:
    return Claim(id_, claim, source, scope, statistic, value, f"{op} {threshold:g}", judge(value, op, threshold), note)


def _skip(id_: str, claim: str, source: str, scope: str, statistic: str, op: str, threshold: float,
          reason: str) -> Claim:
    return Claim(id_, claim, source, scope, statistic, math.nan, f"{op} {threshold:g}", SKIPPED, reason)


def seed_scores(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """Each run's final value of `metric`, a run without one (diverged) counting as the worst value."""
    worst = 0.0 if higher_is_better(metric) else math.inf
    return rows[f"final_{metric}"].astype(float).fillna(worst).to_numpy()


def worse_ratio(scores: np.ndarray, reference: np.ndarray, metric: str) -> float:
    """How many times worse the median of `scores` is than the median of `reference` (> 1: worse),
    whichever direction `metric` improves in; equal medians (also both 0) give 1."""
    a, b = float(np.median(scores)), float(np.median(reference))
    if a == b:
        return 1.0
    num, den = (b, a) if higher_is_better(metric) else (a, b)
    if math.isinf(den):
        return 0.0
    return math.inf if den == 0 else num / den


def _gan_reason(plan: StudyPlan, optimizer: str) -> str | None:
    """Why `optimizer` cannot be compared with Adam in this study, or None."""
    if not plan.datasets:
        return "no GAN stage in this study"
    missing = [o for o in (optimizer, "adam") if o not in plan.optimizers]
    if missing:
        return f"{missing[0]} is not among gan.optimizers"
    return None if plan.fid else "the FID stage is off (fid.activate: false)"


def _versus_adam(plan: StudyPlan, runs: pd.DataFrame, cfg: ClaimsConfig) -> list[Claim]:
    out = []
    for id_, text, source, optimizer, op, field in VERSUS_ADAM:
        threshold = getattr(cfg, field)
        statistic = f"median final metric, {optimizer} / adam (> 1: worse than adam; diverged = worst)"
        for dataset in plan.datasets or ("-",):
            reason = _gan_reason(plan, optimizer)
            rows = runs[runs["dataset"] == dataset] if reason is None else runs.iloc[:0]
            metric = rows["metric"].iloc[0] if not rows.empty else None
            if reason is None and metric is None:
                reason = f"no metric of report.quality_metrics in {dataset}'s fid.json records"
            if reason is None and (rows.loc[rows["optimizer"] == "adam", "status"] == "diverged").all():
                reason = f"adam diverged on every seed of {dataset}: no reference"
            if reason:
                out.append(_skip(id_, text, source, dataset, statistic, op, threshold, reason))
                continue
            mine, adam = (rows[rows["optimizer"] == o] for o in (optimizer, "adam"))
            value = worse_ratio(seed_scores(mine, metric), seed_scores(adam, metric), metric)
            note = (f"final {metric}, median over seeds: {optimizer} {np.median(seed_scores(mine, metric)):.4g} "
                    f"({(mine['status'] == 'diverged').sum()}/{len(mine)} diverged, {int(mine['collapsed'].sum())} "
                    f"collapsed), adam {np.median(seed_scores(adam, metric)):.4g} "
                    f"({(adam['status'] == 'diverged').sum()}/{len(adam)} diverged, {int(adam['collapsed'].sum())} "
                    "collapsed)")
            out.append(_claim(id_, text, source, dataset, statistic.replace("metric", metric), value, op,
                              threshold, note))
    return out


def _adam_norm(plan: StudyPlan, cv: pd.DataFrame, runs: pd.DataFrame, tensors: str, cfg: ClaimsConfig,
               warmup_frac: float) -> list[Claim]:
    id_, text, source = "adam_norm_constant", "Adam's per-layer update norm is roughly constant over training", \
        "A.1.2, E-A2"
    statistic = (f"median coefficient of variation of the update norm per tensor ({tensors}) and seed, "
                 f"after the first {warmup_frac:g} of the steps")
    out = []
    for dataset in plan.datasets or ("-",):
        reason = ("no GAN stage in this study" if not plan.datasets
                  else None if plan.has("adam") else "adam is not among gan.optimizers")
        if reason is None:
            ok = runs[(runs["dataset"] == dataset) & (runs["optimizer"] == "adam") & (runs["status"] == "ok")]["seed"]
            rows = cv[(cv["dataset"] == dataset) & cv["seed"].isin(ok)]
            rows = rows[rows["weight"].astype(bool)] if tensors == "weights" else rows
            values = rows["cv"].dropna()
            if values.empty:
                reason = "no Adam run finished with two or more norm records after warm-up"
        if reason:
            out.append(_skip(id_, text, source, dataset, statistic, "<=", cfg.norm_cv_max, reason))
            continue
        by_player = ", ".join(f"{p} {g.median():.3g}" for p, g in values.groupby(rows.loc[values.index, "player"]))
        out.append(_claim(id_, text, source, dataset, statistic, float(values.median()), "<=", cfg.norm_cv_max,
                          f"{len(values)} tensor-runs over {ok.nunique()} seeds; median by player: {by_player}; "
                          f"range {values.min():.3g}-{values.max():.3g}"))
    return out


def _toy_row(toy: pd.DataFrame, optimizer: str, point: str) -> pd.Series | None:
    rows = toy[(toy["optimizer"] == optimizer) & (toy["setting"] == 0) & (toy["point"] == point)] \
        if not toy.empty else toy
    return None if rows.empty else rows.iloc[0]


def _toy(plan: StudyPlan, toy: pd.DataFrame, cfg: ClaimsConfig) -> list[Claim]:
    out = []
    text, source = "SGDA collapses the toy generator onto u1+u2 (Thm 4.1)", "A.1.5, E-A4"
    statistic = "peak over steps of the seed-mean |cos(G(z), u1+u2)|, moved latents, SGDA's first setting"
    row = _toy_row(toy, "sgda", "peak_collapse_moved")
    if row is None:
        reason = ("the toy stage is off" if not plan.toy else "sgda is not among toy.optimizers"
                  if "sgda" not in plan.toy else "no SGDA latent moved from its initialization")
        out.append(_skip("toy_sgda_collapses", text, source, "toy", statistic, ">=", cfg.toy_collapse_cos_min,
                         reason))
    else:
        out.append(_claim("toy_sgda_collapses", text, source, "toy", statistic, float(row["collapse_cos/moved_mean"]),
                          ">=", cfg.toy_collapse_cos_min,
                          f"step {row['step']}, lr_g/lr_d {row['lr_g']:g}/{row['lr_d']:g}; {row['both_modes_seeds']}/"
                          f"{row['seeds']} seeds recover both modes there"))
    for optimizer in TOY_NORMALIZED:
        id_, text = f"toy_{optimizer}_recovers", f"{optimizer} recovers both modes of the toy (Thm 4.2)"
        statistic = f"share of seeds recovering both modes at the last step, {optimizer}'s first setting"
        row = _toy_row(toy, optimizer, "end")
        if row is None:
            out.append(_skip(id_, text, source, "toy", statistic, ">=", cfg.toy_recovery_share_min,
                             "the toy stage is off" if not plan.toy else f"{optimizer} is not among toy.optimizers"))
            continue
        out.append(_claim(id_, text, source, "toy", statistic, float(row["both_modes_share"]), ">=",
                          cfg.toy_recovery_share_min,
                          f"{row['both_modes_seeds']}/{row['seeds']} seeds at step {row['step']}; recovery u1/u2 "
                          f"(all latents) {row['recovery/u1/all_mean']:.3g}/{row['recovery/u2/all_mean']:.3g}"))
    return out


def _natgrad(plan: StudyPlan, runs: pd.DataFrame, cfg: ClaimsConfig) -> list[Claim]:
    out = []
    source = "B.1, B.4, E-B1"
    done = set(runs["experiment"]) if not runs.empty else set()
    for experiment in NG_EXPERIMENTS:
        for method, id_, text, want, op, threshold in (
                ("ng", "ng_lyapunov_monotone", "Natural gradient decreases V monotonically", True, ">=",
                 cfg.ng_monotone_share_min),
                ("gda", "gda_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically", False, ">=",
                 cfg.gda_nonmonotone_share_min)):
            kind = "never rises" if want else "rises at least once"
            statistic = f"share of {method} runs on regularized games (lambda or mu > 0) whose V {kind}"
            reason = ("the natgrad stage is off" if not plan.natgrad else
                      f"the {experiment} experiment did not run" if experiment not in done else None)
            rows = runs[(runs["experiment"] == experiment) & (runs["method"] == method)] if reason is None else None
            if reason is None and rows.empty:
                reason = f"method {method} is not among natgrad.{experiment}.methods"
            if reason is None:
                rows = rows[rows["regularization"] > 0]
                if rows.empty:
                    reason = "no regularized setting (every lambda/mu is 0)"
            if reason:
                out.append(_skip(id_, text, source, experiment, statistic, op, threshold, reason))
                continue
            share = float(((rows["rises"] == 0) == want).mean())
            out.append(_claim(id_, text, source, experiment, statistic, share, op, threshold,
                              f"{len(rows)} runs; rises of V per run: {', '.join(map(str, rows['rises']))}; "
                              f"median V end {rows['V_end'].median():.3g} (start {rows['V_start'].median():.3g})"))
    out += _natgrad_gan(plan, runs, cfg)
    return out


def _natgrad_gan(plan: StudyPlan, runs: pd.DataFrame, cfg: ClaimsConfig) -> list[Claim]:
    """The finite-support GAN inside the theorem's assumptions (ganopt.natgrad.gan): seed statistics
    from ganopt.natgrad.evidence, judged on NG runs whose Jacobians stayed full rank."""
    from ganopt.natgrad import evidence

    source = "B.1, B.3, E-B2"
    gan = runs[runs["experiment"] == "gan"] if not runs.empty else runs
    stage = ("the natgrad stage is off" if not plan.natgrad else "the gan experiment did not run" if gan.empty
             else None if "ng" in set(gan["method"]) else "method ng is not among natgrad.gan.methods")
    rows = (
        ("ng_gan_lyapunov_monotone", "Natural gradient decreases V monotonically on the simple GAN",
         "share of ng seeds (full rank along the trajectory) whose V never rises", ">=", cfg.ng_monotone_share_min,
         lambda: evidence.monotone_share(gan, "ng", True)),
        ("gda_gan_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically on the simple GAN",
         "share of gda seeds (same inits) whose V rises at least once", ">=", cfg.gda_nonmonotone_share_min,
         lambda: evidence.monotone_share(gan, "gda", False)),
        ("ng_simple_gan_better", "Natural gradient gets the simple GAN closer to its equilibrium than GDA",
         "median over seeds of final V, ng / gda (paired by init)", "<=", cfg.ng_gan_ratio_max,
         lambda: evidence.ratio_to(gan, "gda")),
    )
    out = []
    for id_, text, statistic, op, threshold, compute in rows:
        ev = evidence.Evidence(math.nan, math.nan, math.nan, 0, stage, "") if stage else compute()
        if ev.reason:
            out.append(_skip(id_, text, source, "gan", statistic, op, threshold, ev.reason))
            continue
        extra = ""
        if id_ == "ng_simple_gan_better" and "adam" in set(gan["method"]):
            adam = evidence.ratio_to(gan, "adam")
            extra = f"; ng / adam {adam.value:.3g} [{adam.low:.3g}, {adam.high:.3g}]"
        out.append(_claim(id_, text, source, "gan", statistic, ev.value, op, threshold,
                          f"95% interval [{ev.low:.3g}, {ev.high:.3g}], n = {ev.n}; {ev.note}{extra}"))
    return out


def claims_table(plan: StudyPlan, runs: pd.DataFrame, cv: pd.DataFrame, toy: pd.DataFrame,
                 natgrad_runs: pd.DataFrame) -> pd.DataFrame:
    """Every claim, in study.md's order: GAN optimizer comparisons, Adam's norm, toy, natural gradient."""
    cfg = plan.report.claims
    claims = (_versus_adam(plan, runs, cfg) + _adam_norm(plan, cv, runs, plan.report.norm_tensors, cfg,
                                                         plan.report.norm_warmup_frac)
              + _toy(plan, toy, cfg) + _natgrad(plan, natgrad_runs, cfg))
    return pd.DataFrame([asdict(c) for c in claims], columns=COLUMNS)
