"""The natural-gradient claims (study.md B), per setting, never pooled across settings: a setting is
one regularized game (warm-up: parametrization x mu > 0; RPS: lambda > 0; the simple GAN). Units
are its inits.

- `ng_flow_monotone`: the theorem's statement, V decreases along the flow, tested on the RK4
  reference of ganopt.natgrad.flow (results/natgrad/<experiment>/flow.csv): the number of inits
  whose reference V rises, among the inits whose trajectory keeps both Jacobians at full rank (the
  theorem's assumption; the others are counted apart in the note). "Holds" is zero violations,
  stated as a count (the theorem is about every init): the interval columns repeat the count.
- `ng_lyapunov_monotone`: the method at its step size, the same count for Euler NG at lr; the note
  gives the count at lr/2, lr/4 and the diagnosis: monotone; the flow is monotone but the
  discretization at lr is not; or the flow itself is not.
- `gda_lyapunov_not_monotone`: the share of GDA runs whose V rises (Clopper-Pearson), against
  report.claims.gda_nonmonotone_share_min.
- `ng_simple_gan_better`: NG gets the simple GAN closer to its equilibrium than GDA (median over
  inits inside the assumption of the paired ratio of final V, sign-test interval)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.stats import median_interval, share_interval

EXPERIMENTS = ("warmup", "rps", "gan")
SOURCES = {"warmup": "B.1, B.4", "rps": "B.2, B.4, E-B1", "gan": "B.1, B.3, E-B2"}


def _count_measure(rows: pd.DataFrame):
    """A Measure of how many of `rows`' inits have a rise of V (the count is exact: low = high)."""
    def measure(inits: Sequence[int]) -> Measure:
        mine = rows[rows["init"].isin(inits)]
        count = int((mine["rises"] > 0).sum())
        return Measure(count, count, count, len(mine))
    return measure


def _upper(k: int, n: int) -> str:
    return f"{k}/{n} (violation rate <= {share_interval(k, n)[2]:.2g}, 95% Clopper-Pearson)" if n else "0/0"


def _diagnosis(flow: pd.DataFrame, inside: list[int]) -> str:
    """What the ladder and the reference say about the inits inside the assumption."""
    mine = flow[flow["init"].isin(inside)]
    euler = mine[mine["integrator"] == "euler"]
    by_step = {h: int((g["rises"] > 0).sum()) for h, g in euler.groupby("step_size")}
    ref = int((mine.loc[mine["integrator"] == "rk4", "rises"] > 0).sum())
    lr = float(flow["lr"].iloc[0])
    smaller = sorted((h for h in by_step if h <= lr), reverse=True)
    ladder = ", ".join(f"{by_step[h]} at step {h:g}" for h in sorted(by_step, reverse=True))
    clean = [h for h in smaller if by_step[h] == 0]
    if ref:
        verdict = "the flow itself is not monotone (the RK4 reference rises)"
    elif by_step[lr] == 0:
        verdict = "monotone at the configured step and as a flow"
    elif clean:
        verdict = f"the flow is monotone, the discretization at step {lr:g} is not (none from step {clean[0]:g})"
    else:
        verdict = f"the flow is monotone, the discretization is not at any step tried (down to {smaller[-1]:g})"
    return f"inits with a rise of V: {ladder}, {ref} along the RK4 reference: {verdict}"


def _inside(flow: pd.DataFrame) -> tuple[list[int], str]:
    """Inits whose reference trajectory kept both Jacobians at full rank, and a note on the others."""
    ref = flow[flow["integrator"] == "rk4"]
    out = ref[~ref["inside"].astype(bool)]
    note = "" if out.empty else (
        f"{len(out)}/{len(ref)} inits left the full-rank assumption along the flow (smallest sigma of J_F, J_G "
        f"down to {out['sigma_F_min'].min():.2g}, {out['sigma_G_min'].min():.2g}; their reference V rises in "
        f"{int((out['rises'] > 0).sum())}) and are not counted; ")
    return sorted(ref.loc[ref["inside"].astype(bool), "init"]), note


def _settings(flows: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(flows["experiment"], flows["setting"]))) if not flows.empty else []


def _flow_claims(plan: StudyPlan, flows: pd.DataFrame, experiment: str, setting: str) -> list[dict]:
    scope = f"{experiment} {setting}"
    flow = flows[(flows["experiment"] == experiment) & (flows["setting"] == setting)]
    specs = (Spec("ng_flow_monotone", "The natural-gradient flow decreases V monotonically", SOURCES[experiment], scope,
                  "inits inside the full-rank assumption whose V rises along the flow (RK4 reference); a count",
                  "<=", 0),
             Spec("ng_lyapunov_monotone", "Natural gradient at its step size decreases V monotonically",
                  SOURCES[experiment], scope, "inits inside the full-rank assumption whose V rises under NG at the "
                  "configured step (Euler); a count", "<=", 0))
    inside, note = _inside(flow)
    if not inside:
        return [skipped(spec, "every init left the full-rank assumption along the flow: outside the theorem")
                for spec in specs]
    ref = flow[(flow["integrator"] == "rk4") & flow["init"].isin(inside)]
    lr = float(flow["lr"].iloc[0])
    euler = flow[(flow["integrator"] == "euler") & np.isclose(flow["step_size"], lr) & flow["init"].isin(inside)]
    k_ref, k_lr = int((ref["rises"] > 0).sum()), int((euler["rises"] > 0).sum())
    error = ref["ref_error"].max()
    return [judged(specs[0], _count_measure(ref), inside,
                   f"{note}violations {_upper(k_ref, len(ref))}; RK4 step {ref['step_size'].iloc[0]:g}, its error "
                   f"estimate (against twice the step) up to {error:.2g} of V(0)"),
            judged(specs[1], _count_measure(euler), inside,
                   f"{note}violations {_upper(k_lr, len(euler))}; {_diagnosis(flow, inside)}")]


def _gda(plan: StudyPlan, runs: pd.DataFrame, experiment: str, setting: str, key: dict) -> dict:
    spec = Spec("gda_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically", SOURCES[experiment],
                f"{experiment} {setting}", "share of gda runs whose V rises at least once (Clopper-Pearson)", ">=",
                plan.report.claims.gda_nonmonotone_share_min)
    rows = runs[(runs["experiment"] == experiment) & (runs["method"] == "gda")]
    for column, value in key.items():
        rows = rows[np.isclose(rows[column].astype(float), value) if column != "player" else rows[column] == value]
    if rows.empty:
        return skipped(spec, f"method gda is not among natgrad.{experiment}.methods")
    success = rows["rises"] > 0

    def measure(inits: Sequence[int]) -> Measure:
        mine = success[rows["init"].isin(inits)]
        return Measure(*share_interval(int(mine.sum()), len(mine)), len(mine))

    return judged(spec, measure, sorted(set(rows["init"])),
                  f"{len(rows)} runs; median V end {rows['V_end'].median():.3g} (start {rows['V_start'].median():.3g})")


def _setting_key(setting: str) -> dict:
    """'player=mlp mu=0.5' -> {'player': 'mlp', 'mu': 0.5}; the GAN's 'mu=1' names no run column."""
    key = {}
    for part in setting.split():
        name, value = part.split("=")
        key[name] = value if name == "player" else float(value)
    return key


def _log_ratios(gan: pd.DataFrame, baseline: str, inits: Sequence[int]) -> pd.Series:
    """log10 of final V, ng over `baseline`, paired by init (a diverged run counts as the worst value)."""
    v = {m: gan[gan["method"] == m].set_index("init")["V_end"].astype(float).fillna(math.inf) for m in ("ng", baseline)}
    pairs = pd.DataFrame(v).loc[lambda f: f.index.isin(inits)].dropna()
    tiny = np.finfo(float).tiny
    return np.log10(pairs["ng"].clip(lower=tiny)) - np.log10(pairs[baseline].clip(lower=tiny))


def _simple_gan(plan: StudyPlan, runs: pd.DataFrame, flows: pd.DataFrame) -> dict:
    spec = Spec("ng_simple_gan_better", "Natural gradient gets the simple GAN closer to its equilibrium than GDA",
                "B.1, B.3, E-B2", "gan", "median over inits of final V, ng / gda (paired by init; sign-test interval)",
                "<=", plan.report.claims.ng_gan_ratio_max)
    gan = runs[runs["experiment"] == "gan"] if not runs.empty else runs
    flow = flows[flows["experiment"] == "gan"] if not flows.empty else flows
    reason = ("the natgrad stage is off" if not plan.natgrad else "the gan experiment did not run" if gan.empty
              else next((f"method {m} is not among natgrad.gan.methods" for m in ("ng", "gda")
                         if m not in set(gan["method"])), None))
    if reason:
        return skipped(spec, reason)
    inits, note = _inside(flow) if not flow.empty else (sorted(set(gan["init"])), "")
    if not inits:
        return skipped(spec, "every init left the full-rank assumption along the flow: outside the theorem")
    logs = _log_ratios(gan, "gda", inits)

    def measure(units: Sequence[int]) -> Measure:
        mid, low, high = median_interval(logs[logs.index.isin(units)].to_numpy())
        return Measure(*(10 ** v if not math.isnan(v) else math.nan for v in (mid, low, high)),
                       int(logs.index.isin(units).sum()))

    extra = ""
    if "adam" in set(gan["method"]):
        adam = median_interval(_log_ratios(gan, "adam", inits).to_numpy())
        extra = f"; ng / adam {10 ** adam[0]:.3g} [{10 ** adam[1]:.3g}, {10 ** adam[2]:.3g}]"
    return judged(spec, measure, inits, f"{note}ng lower than gda on {int((logs < 0).sum())}/{len(logs)} inits{extra}")


def natgrad_claims(plan: StudyPlan, runs: pd.DataFrame, flows: pd.DataFrame) -> list[dict]:
    """The natgrad rows from the per-run table (ganopt.report.tables.natgrad_runs) and the flow
    checks (results/natgrad/<experiment>/flow.csv with an `experiment` column): per setting, the
    flow's and the method's monotonicity and GDA's; then the simple GAN's comparison."""
    settings = _settings(flows)
    if not settings:
        reason = "the natgrad stage is off" if not plan.natgrad else "no regularized setting ran with ng"
        specs = [Spec(i, t, "B.1, B.4", "natgrad", "-", op, 0) for i, t, op in (
            ("ng_flow_monotone", "The natural-gradient flow decreases V monotonically", "<="),
            ("ng_lyapunov_monotone", "Natural gradient at its step size decreases V monotonically", "<="),
            ("gda_lyapunov_not_monotone", "Plain GDA does not decrease V monotonically", ">="))]
        return [skipped(spec, reason) for spec in specs] + [_simple_gan(plan, runs, flows)]
    out = []
    for experiment, setting in settings:
        out += _flow_claims(plan, flows, experiment, setting)
        out.append(_gda(plan, runs, experiment, setting, _setting_key(setting) if experiment != "gan" else {}))
    return out + [_simple_gan(plan, runs, flows)]
