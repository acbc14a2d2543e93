"""Seed statistics behind the simple-GAN claims (torch-free, for the report): each claim gets a
value, a 95% interval over seeds, n, and a reason when it cannot be evaluated.

Runs count only where the natural-gradient trajectory stayed inside the theorem's full-rank
assumption (`full_rank`, checked by ganopt.natgrad.gan); the comparison with GDA pairs NG and GDA
runs of the same seed (same initialization). Intervals: Wilson's score interval for shares of
seeds; a percentile bootstrap of the median over seeds (fixed generator, so the report is
deterministic) for the NG / GDA ratio of final V, computed on log10 ratios."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# per-run columns of the simple GAN's CSVs that the report carries into its run table
GAN_RUN_COLUMNS = ("sigma_G_min", "sigma_D_min", "full_rank")
LEVEL = 0.95
BOOTSTRAP_REPS = 4000


@dataclass(frozen=True)
class Evidence:
    """One claim's numbers: value with its 95% interval over n seeds, or why it is not evaluated."""

    value: float
    low: float
    high: float
    n: int
    reason: str | None
    note: str


def wilson_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a share k/n (exact enough for n >= 5, never outside [0, 1])."""
    if n == 0:
        return math.nan, math.nan
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_median(values: np.ndarray, level: float = LEVEL, reps: int = BOOTSTRAP_REPS,
                     seed: int = 0) -> tuple[float, float, float]:
    """Median of `values` and its percentile-bootstrap interval over resampled seeds."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, len(x), size=(reps, len(x)))], axis=1)
    tail = 100 * (1 - level) / 2
    return float(np.median(x)), float(np.percentile(medians, tail)), float(np.percentile(medians, 100 - tail))


def _skip(reason: str) -> Evidence:
    return Evidence(math.nan, math.nan, math.nan, 0, reason, "")


def inside_assumption(gan: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """NG runs whose trajectory kept both Jacobians full rank, and a note on the ones that did not."""
    ng = gan[gan["method"] == "ng"]
    bad = ng[~ng["full_rank"].astype(bool)]
    note = "" if bad.empty else (
        f"{len(bad)}/{len(ng)} ng seeds left the full-rank assumption (min sigma G/D "
        + ", ".join(f"{r.sigma_G_min:.2g}/{r.sigma_D_min:.2g}" for r in bad.itertuples()) + ") and are excluded; ")
    return ng[ng["full_rank"].astype(bool)], note


def monotone_share(gan: pd.DataFrame, method: str, want_monotone: bool) -> Evidence:
    """Share of `method`'s seeds (those where NG stayed full rank) whose V never rises (want_monotone)
    or rises at least once."""
    ok, note = inside_assumption(gan)
    if ok.empty:
        return _skip("every ng run left the full-rank assumption (a Jacobian's smallest singular value ~0): "
                     "outside the theorem")
    rows = gan[(gan["method"] == method) & gan["init"].isin(ok["init"])]
    if rows.empty:
        return _skip(f"method {method} is not among natgrad.gan.methods")
    k, n = int(((rows["rises"] == 0) == want_monotone).sum()), len(rows)
    low, high = wilson_interval(k, n)
    return Evidence(k / n, low, high, n, None,
                    f"{note}{k}/{n} seeds; rises of V per seed: {', '.join(map(str, rows['rises']))}; "
                    f"median V end {rows['V_end'].median():.3g} (start {rows['V_start'].median():.3g})")


def ratio_to(gan: pd.DataFrame, baseline: str) -> Evidence:
    """Median over seeds of V_end(ng) / V_end(baseline), paired by seed, with its bootstrap interval."""
    ok, note = inside_assumption(gan)
    if ok.empty:
        return _skip("every ng run left the full-rank assumption (a Jacobian's smallest singular value ~0): "
                     "outside the theorem")
    base = gan[gan["method"] == baseline].set_index("init")["V_end"].fillna(np.inf)   # diverged: worst
    if base.empty:
        return _skip(f"method {baseline} is not among natgrad.gan.methods")
    pairs = ok.set_index("init")["V_end"].to_frame("ng").join(base.rename("base"), how="inner")
    tiny = np.finfo(float).tiny
    logs = np.log10(pairs["ng"].clip(lower=tiny)) - np.log10(pairs["base"].clip(lower=tiny))
    mid, low, high = bootstrap_median(logs.to_numpy())
    return Evidence(10 ** mid, 10 ** low, 10 ** high, len(pairs), None,
                    f"{note}median final V: ng {pairs['ng'].median():.3g}, {baseline} {pairs['base'].median():.3g}; "
                    f"ng lower on {int((pairs['ng'] < pairs['base']).sum())}/{len(pairs)} seeds")
