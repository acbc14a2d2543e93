"""The natural-gradient claims (study.md B): V falls monotonically under natural gradient and not
under GDA on regularized games and on the simple GAN (shares of runs, Clopper-Pearson intervals),
and natural gradient gets the simple GAN closer to its equilibrium than GDA (median over inits of
the paired ratio of final V, sign-test interval). Units are the runs' inits. The simple-GAN rows
use only inits whose NG run kept both Jacobians full rank (the theorem's assumption); with none,
they are "not evaluated" with that reason."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.stats import median_interval, share_interval

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


def inside_assumption(gan: pd.DataFrame) -> tuple[list[int], str]:
    """Inits whose NG run kept both Jacobians full rank along its trajectory (the theorem's
    overparametrization assumption, checked by ganopt.natgrad.gan), and a note on those that did not."""
    ng = gan[gan["method"] == "ng"]
    bad = ng[~ng["full_rank"].astype(bool)]
    note = "" if bad.empty else (
        f"{len(bad)}/{len(ng)} ng runs left the full-rank assumption (min sigma G/D "
        + ", ".join(f"{r.sigma_G_min:.2g}/{r.sigma_D_min:.2g}" for r in bad.itertuples()) + ") and are excluded; ")
    return sorted(set(ng.loc[ng["full_rank"].astype(bool), "init"])), note


def _gan_runs(plan: StudyPlan, runs: pd.DataFrame, done: set[str], methods: tuple[str, ...]) -> tuple:
    """(the simple GAN's runs, inits inside the assumption, note) or a reason it cannot be judged."""
    gan = runs[runs["experiment"] == "gan"] if "gan" in done else None
    reason = ("the natgrad stage is off" if not plan.natgrad else "the gan experiment did not run" if gan is None
              else next((f"method {m} is not among natgrad.gan.methods" for m in methods
                         if m not in set(gan["method"])), None))
    if reason:
        return reason, None, None, ""
    inits, note = inside_assumption(gan)
    if not inits:
        return ("every ng run left the full-rank assumption (a Jacobian's smallest singular value ~0): "
                "outside the theorem, so the claim is not evaluated"), None, None, ""
    return None, gan, inits, note


def _gan_lyapunov(plan: StudyPlan, runs: pd.DataFrame, done: set[str], method: str) -> dict:
    cfg, want = plan.report.claims, method == "ng"
    id_, text, threshold = (("ng_gan_lyapunov_monotone", "Natural gradient decreases V monotonically on the "
                             "simple GAN", cfg.ng_monotone_share_min) if want else
                            ("gda_gan_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically on "
                             "the simple GAN", cfg.gda_nonmonotone_share_min))
    spec = Spec(id_, text, "B.1, B.3, E-B2", "gan", f"share of {method} runs (inits where ng stayed full rank) whose "
                f"V {'never rises' if want else 'rises at least once'}", ">=", threshold)
    reason, gan, inits, note = _gan_runs(plan, runs, done, ("ng", method))
    if reason:
        return skipped(spec, reason)
    rows = gan[(gan["method"] == method) & gan["init"].isin(inits)]
    success = (rows["rises"] == 0) == want

    def measure(units: Sequence[int]) -> Measure:
        mine = success[rows["init"].isin(units)]
        return Measure(*share_interval(int(mine.sum()), len(mine)), len(mine))

    return judged(spec, measure, inits, f"{note}rises of V per run: {', '.join(map(str, rows['rises']))}; "
                  f"median V end {rows['V_end'].median():.3g} (start {rows['V_start'].median():.3g})")


def _log_ratios(gan: pd.DataFrame, baseline: str, inits: Sequence[int]) -> pd.Series:
    """log10 of final V, ng over `baseline`, paired by init (a diverged run counts as the worst value)."""
    v = {m: gan[gan["method"] == m].set_index("init")["V_end"].astype(float).fillna(math.inf) for m in ("ng", baseline)}
    pairs = pd.DataFrame(v).loc[lambda f: f.index.isin(inits)].dropna()
    tiny = np.finfo(float).tiny
    return np.log10(pairs["ng"].clip(lower=tiny)) - np.log10(pairs[baseline].clip(lower=tiny))


def _simple_gan(plan: StudyPlan, runs: pd.DataFrame, done: set[str]) -> dict:
    spec = Spec("ng_simple_gan_better", "Natural gradient gets the simple GAN closer to its equilibrium than GDA",
                "B.1, B.3, E-B2", "gan", "median over inits of final V, ng / gda (paired by init; sign-test interval)",
                "<=", plan.report.claims.ng_gan_ratio_max)
    reason, gan, inits, note = _gan_runs(plan, runs, done, ("ng", "gda"))
    if reason:
        return skipped(spec, reason)
    logs = _log_ratios(gan, "gda", inits)

    def measure(units: Sequence[int]) -> Measure:
        mid, low, high = median_interval(logs[logs.index.isin(units)].to_numpy())
        return Measure(*(10 ** v if not math.isnan(v) else math.nan for v in (mid, low, high)), int(logs.index.isin(units).sum()))

    extra = ""
    if "adam" in set(gan["method"]):
        adam = median_interval(_log_ratios(gan, "adam", inits).to_numpy())
        extra = f"; ng / adam {10 ** adam[0]:.3g} [{10 ** adam[1]:.3g}, {10 ** adam[2]:.3g}]"
    return judged(spec, measure, inits, f"{note}ng lower than gda on {int((logs < 0).sum())}/{len(logs)} inits{extra}")


def natgrad_claims(plan: StudyPlan, runs: pd.DataFrame) -> list[dict]:
    """The natgrad rows from the per-run table (ganopt.report.tables.natgrad_runs)."""
    done = set(runs["experiment"]) if not runs.empty else set()
    out = [_lyapunov(plan, runs, done, experiment, method) for experiment in NG_EXPERIMENTS for method in ("ng", "gda")]
    return out + [_gan_lyapunov(plan, runs, done, m) for m in ("ng", "gda")] + [_simple_gan(plan, runs, done)]
