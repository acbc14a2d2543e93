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
from ganopt.toy import report as toy_stats

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
# (id, claim, toy optimizer, event of ganopt.toy.report)
TOY_CLAIMS = (
    ("toy_sgda_collapses", "SGDA collapses the toy generator onto u1+u2 (Thm 4.1)", "sgda", "collapses"),
    ("toy_nsgda_global_recovers", "nsgda_global recovers both modes of the toy (Thm 4.2)", "nsgda_global",
     "both_modes"),
    ("toy_nsgda_layer_recovers", "nsgda_layer recovers both modes of the toy (Thm 4.2)", "nsgda_layer",
     "both_modes"),
)
TOY_EVENTS = {"collapses": "collapse onto u1+u2 (at the peak among steps where half the latents moved; seeds "
                           "without such a step are left out)",
              "both_modes": "recover both modes at the last step"}
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


def _toy(plan: StudyPlan, sweep: pd.DataFrame) -> list[Claim]:
    """One row per toy claim, judged by ganopt.toy over the toy stage's sweep (results/toy/sweep.csv):
    the share of seeds with the claim's event pooled over all settings, its 95% Wilson interval
    against toy.seed_share_min (three-valued), and in how many settings it holds."""
    out = []
    for id_, text, optimizer, event in TOY_CLAIMS:
        statistic = (f"share of {optimizer} seeds that {TOY_EVENTS[event]}, pooled over the sweep's settings "
                     "(95% Wilson interval); the note counts the settings where it holds")
        rows = sweep[sweep["optimizer"] == optimizer] if not sweep.empty else sweep
        if rows.empty:
            reason = "the toy stage is off" if not plan.toy else f"{optimizer} is not among toy.optimizers"
            out.append(Claim(id_, text, "A.1.5, E-A4", "toy", statistic, math.nan, "", SKIPPED, reason))
            continue
        c = toy_stats.claim_counts(sweep, optimizer, event)
        threshold = float(rows["seed_share_min"].iloc[0])
        failing = [f"d={r.d} <u1,u2>={r.u_cos:g} init x{r.init_scale:g}: {r[f'{event}_seeds']}/{r[f'{event}_n']}"
                   for _, r in rows.iterrows() if r[f"{event}_verdict"] in (toy_stats.FAILS, toy_stats.SKIPPED)]
        note = (f"holds in {c[toy_stats.HOLDS]} of {c['settings']} settings (does not hold in {c[toy_stats.FAILS]}, "
                f"inconclusive in {c[toy_stats.INCONCLUSIVE]}, not evaluated in {c[toy_stats.SKIPPED]}), "
                f"{int(rows['n_seeds'].iloc[0])} seeds each; pooled "
                f"{c['seeds']}/{c['n']} seeds, 95% CI {c['low']:.2f}-{c['high']:.2f}; eta_G/eta_D "
                f"{rows['lr_g'].iloc[0]:g}/{rows['lr_d'].iloc[0]:g} in every setting"
                + (f"; does not hold or not evaluated at: {', '.join(failing)}" if failing else ""))
        out.append(Claim(id_, text, "A.1.5, E-A4", "toy", statistic, c["share"],
                         f">= {threshold:g}", toy_stats.share_verdict(c["low"], c["high"], threshold), note))
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
    id_, text, source = "ng_simple_gan_better", "Natural gradient trains the simple GAN better than GDA", "B.3, E-B2"
    statistic = "median final W1 to the data, ng / gda"
    gan = runs[runs["experiment"] == "gan"] if "gan" in done else None
    reason = ("the natgrad stage is off" if not plan.natgrad else "the gan experiment did not run" if gan is None
              else next((f"method {m} is not among natgrad.gan.methods" for m in ("ng", "gda")
                         if m not in set(gan["method"])), None))
    if reason:
        out.append(_skip(id_, text, source, "gan", statistic, "<=", cfg.ng_gan_ratio_max, reason))
    else:
        w1 = {m: float(gan.loc[gan["method"] == m, "w1_end"].median()) for m in sorted(set(gan["method"]))}
        value = w1["ng"] / w1["gda"] if w1["gda"] > 0 else (1.0 if w1["ng"] == 0 else math.inf)
        out.append(_claim(id_, text, source, "gan", statistic, value, "<=", cfg.ng_gan_ratio_max,
                          "median final W1: " + ", ".join(f"{m} {v:.3g}" for m, v in w1.items())))
    return out


def claims_table(plan: StudyPlan, runs: pd.DataFrame, cv: pd.DataFrame, toy: pd.DataFrame,
                 natgrad_runs: pd.DataFrame) -> pd.DataFrame:
    """Every claim, in study.md's order: GAN optimizer comparisons, Adam's norm, toy, natural gradient."""
    cfg = plan.report.claims
    claims = (_versus_adam(plan, runs, cfg) + _adam_norm(plan, cv, runs, plan.report.norm_tensors, cfg,
                                                         plan.report.norm_warmup_frac)
              + _toy(plan, toy) + _natgrad(plan, natgrad_runs, cfg))
    return pd.DataFrame([asdict(c) for c in claims], columns=COLUMNS)
