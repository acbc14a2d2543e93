"""The natural-gradient claims (study.md B): V falls monotonically under natural gradient and not
under GDA on regularized games (shares of runs, Clopper-Pearson intervals), and natural gradient
trains the simple GAN better than GDA (factor of final W1, Hodges-Lehmann with the Mann-Whitney
interval). Units are the runs' inits."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.report.stats import share_interval, shift_interval

NG_EXPERIMENTS = ("warmup", "rps")
LYAPUNOV_SOURCE = "B.1, B.4, E-B1"


def _lyapunov(plan: StudyPlan, runs: pd.DataFrame, done: set[str], experiment: str, method: str) -> dict:
    cfg = plan.report.claims
    want = method == "ng"
    id_, text, threshold = (("ng_lyapunov_monotone", "Natural gradient decreases V monotonically",
                             cfg.ng_monotone_share_min) if want else
                            ("gda_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically",
                             cfg.gda_nonmonotone_share_min))
    kind = "never rises" if want else "rises at least once"
    spec = Spec(id_, text, LYAPUNOV_SOURCE, experiment,
                f"share of {method} runs on regularized games (lambda or mu > 0) whose V {kind}", ">=", threshold)
    if not plan.natgrad:
        return skipped(spec, "the natgrad stage is off")
    if experiment not in done:
        return skipped(spec, f"the {experiment} experiment did not run")
    rows = runs[(runs["experiment"] == experiment) & (runs["method"] == method)]
    if rows.empty:
        return skipped(spec, f"method {method} is not among natgrad.{experiment}.methods")
    rows = rows[rows["regularization"] > 0]
    if rows.empty:
        return skipped(spec, "no regularized setting (every lambda/mu is 0)")
    success = (rows["rises"] == 0) == want

    def measure(inits: Sequence[int]) -> Measure:
        mine = success[rows["init"].isin(inits)]
        return Measure(*share_interval(int(mine.sum()), len(mine)), len(mine))

    return judged(spec, measure, sorted(set(rows["init"])),
                  f"{len(rows)} runs; rises of V per run: {', '.join(map(str, rows['rises']))}; "
                  f"median V end {rows['V_end'].median():.3g} (start {rows['V_start'].median():.3g})")


def _simple_gan(plan: StudyPlan, runs: pd.DataFrame, done: set[str]) -> dict:
    spec = Spec("ng_simple_gan_better", "Natural gradient trains the simple GAN better than GDA", "B.3, E-B2", "gan",
                "factor of final W1 to the data, ng over gda (Hodges-Lehmann)", "<=", plan.report.claims.ng_gan_ratio_max)
    gan = runs[runs["experiment"] == "gan"] if "gan" in done else None
    reason = ("the natgrad stage is off" if not plan.natgrad else "the gan experiment did not run" if gan is None
              else next((f"method {m} is not among natgrad.gan.methods" for m in ("ng", "gda")
                         if m not in set(gan["method"])), None))
    if reason:
        return skipped(spec, reason)
    by = {m: gan[gan["method"] == m] for m in ("ng", "gda")}

    def measure(inits: Sequence[int]) -> Measure:
        ng, gda = (np.log(by[m].loc[by[m]["init"].isin(inits), "w1_end"].astype(float).to_numpy()) for m in by)
        shift, low, high = shift_interval(*(np.where(np.isnan(v), math.inf, v) for v in (ng, gda)))
        return Measure(*(math.exp(v) if not math.isnan(v) else math.nan for v in (shift, low, high)),
                       min(len(ng), len(gda)))

    w1 = {m: float(gan.loc[gan["method"] == m, "w1_end"].median()) for m in sorted(set(gan["method"]))}
    return judged(spec, measure, sorted(set(gan["init"])),
                  "median final W1: " + ", ".join(f"{m} {v:.3g}" for m, v in w1.items()))


def natgrad_claims(plan: StudyPlan, runs: pd.DataFrame) -> list[dict]:
    """The natgrad rows from the per-run table (ganopt.report.tables.natgrad_runs)."""
    done = set(runs["experiment"]) if not runs.empty else set()
    out = [_lyapunov(plan, runs, done, experiment, method) for experiment in NG_EXPERIMENTS for method in ("ng", "gda")]
    return out + [_simple_gan(plan, runs, done)]
