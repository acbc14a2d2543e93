"""Statistics over seeds: descriptive summaries for the tables, and the exact, distribution-free 95%
intervals and three-valued verdicts of the claims table.

Intervals (no resampling, so no random seed and no Monte-Carlo error; valid for any n, exact or
conservative coverage):
- two groups of seeds (an optimizer vs Adam): the Hodges-Lehmann shift, the median of all pairwise
  differences x_i - y_j, with the interval from inverting the exact Mann-Whitney test
  (Lehmann 1975, ch. 2; Hollander & Wolfe); on log values the shift is a ratio;
- one group (e.g. a per-seed coefficient of variation): the median with the sign-test
  (binomial order-statistic) interval;
- a share of runs (e.g. seeds recovering both modes): the Clopper-Pearson interval.
Too few seeds for any 95% interval (e.g. 3 vs 3 seeds, or 5 for a median) give (-inf, inf), hence
"inconclusive". A verdict holds when the whole interval is on the claim's side of its threshold,
does not hold when the whole interval is on the other side, and is inconclusive otherwise."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special  # the quantile functions scipy.stats calls, without its 0.4 s import in every job

HOLDS, FAILS, INCONCLUSIVE, SKIPPED = "holds", "does not hold", "inconclusive", "not evaluated"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, SKIPPED)
LEVEL = 0.95


def summarize(values: pd.Series | np.ndarray | list[float]) -> dict[str, float]:
    """n, mean, std (ddof 1), median, min, max and the 95% t-interval of the finite values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "median": math.nan, "min": math.nan,
                "max": math.nan, "ci95_low": math.nan, "ci95_high": math.nan}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    half = float(special.stdtrit(n - 1, 0.975) * std / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "median": float(np.median(x)), "min": float(x.min()),
            "max": float(x.max()), "ci95_low": mean - half, "ci95_high": mean + half}


def summarize_groups(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """One row per group: `<column>_<statistic>` for every column summarized over the group's rows."""
    rows = []
    for key, group in frame.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for column in columns:
            row.update({f"{column}_{k}": v for k, v in summarize(group[column]).items()})
        rows.append(row)
    return pd.DataFrame(rows)


@lru_cache(maxsize=256)
def _mann_whitney_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u), u = 0..mn, of the Mann-Whitney count U = #{(i, j): x_i > y_j} under no shift
    (exact, by the recursion N(m, n, u) = N(m - 1, n, u - n) + N(m, n - 1, u) on the largest value)."""
    previous = [np.ones(1) for _ in range(n + 1)]          # m = 0: U = 0 in one way
    for i in range(1, m + 1):
        current = [np.ones(1)]
        for j in range(1, n + 1):
            counts = np.zeros(i * j + 1)
            counts[: len(current[j - 1])] += current[j - 1]   # largest value is a y: U unchanged
            counts[j: j + len(previous[j])] += previous[j]    # largest value is an x: it beats all j y's
            current.append(counts)
        previous = current
    return np.cumsum(previous[n]) / previous[n].sum()


def _differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sorted pairwise differences x_i - y_j; two equal infinities (e.g. both runs at the worst
    value) differ by 0."""
    with np.errstate(invalid="ignore"):
        d = x[:, None] - y[None, :]
    d[np.isnan(d) & (x[:, None] == y[None, :])] = 0.0
    return np.sort(d.ravel())


def shift_interval(x: np.ndarray, y: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(Hodges-Lehmann shift of x over y, exact Mann-Whitney `level` interval) of two samples;
    +inf marks a worst value. NaN throughout when a sample is empty."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not len(x) or not len(y):
        return math.nan, math.nan, math.nan
    d = _differences(x, y)
    cdf = _mann_whitney_cdf(len(x), len(y))
    k = int(np.searchsorted(cdf, (1 - level) / 2, side="right"))   # P(U <= k - 1) <= alpha / 2
    estimate = float(np.median(d)) if not np.isnan(d).any() else math.nan
    if k == 0:
        return estimate, -math.inf, math.inf
    return estimate, float(d[k - 1]), float(d[len(d) - k])


def median_interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(median, sign-test `level` interval x_(k), x_(n+1-k)) of one sample (finite values only)."""
    x = np.sort(np.asarray(x, dtype=float)[np.isfinite(np.asarray(x, dtype=float))])
    if not len(x):
        return math.nan, math.nan, math.nan
    cdf = special.bdtr(np.arange(len(x)), len(x), 0.5)
    k = int(np.searchsorted(cdf, (1 - level) / 2, side="right"))   # P(B <= k - 1) <= alpha / 2
    if k == 0:
        return float(np.median(x)), -math.inf, math.inf
    return float(np.median(x)), float(x[k - 1]), float(x[len(x) - k])


def share_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(share, Clopper-Pearson `level` interval) of `successes` out of `n` runs."""
    if n == 0:
        return math.nan, math.nan, math.nan
    alpha = 1 - level
    low = 0.0 if successes == 0 else float(special.betaincinv(successes, n - successes + 1, alpha / 2))
    high = 1.0 if successes == n else float(special.betaincinv(successes + 1, n - successes, 1 - alpha / 2))
    return successes / n, low, high


def verdict(low: float, high: float, op: str, threshold: float) -> str:
    """holds / does not hold / inconclusive of the claim `value op threshold` (op "<=" or ">=")
    given the value's interval [low, high]; not evaluated for a NaN interval."""
    if math.isnan(low) or math.isnan(high):
        return SKIPPED
    inside, outside = (high <= threshold, low > threshold) if op == "<=" else (low >= threshold, high < threshold)
    return HOLDS if inside else FAILS if outside else INCONCLUSIVE


def clustered_share_interval(successes: np.ndarray, trials: np.ndarray,
                             level: float = LEVEL) -> tuple[float, float, float, float]:
    """(share, Korn-Graubard `level` interval, design effect) of a share of runs grouped in clusters
    (e.g. a seed's runs across settings), from each cluster's successes and trials.

    Korn & Graubard (1998), the interval of the NCHS data presentation standards for proportions
    (Parker et al. 2017): Clopper-Pearson on the effective sample size n* = p(1 - p) / var(p), var
    from the between-cluster spread of the ratio estimator, times (z / t_{C-1})^2 for the C - 1
    degrees of freedom of C clusters; n* is capped at the number of runs. With every cluster of one
    run it is the exact Clopper-Pearson interval (design effect 1). With no spread to estimate a
    variance from (share 0 or 1), each cluster counts once (n* = C), the conservative end."""
    y, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    keep = n > 0
    y, n = y[keep], n[keep]
    total, clusters = float(n.sum()), len(n)
    if clusters == 0:
        return math.nan, math.nan, math.nan, math.nan
    share = float(y.sum()) / total
    if n.max() <= 1:
        return (*share_interval(int(y.sum()), int(total), level), 1.0)
    if clusters == 1:
        return share, 0.0, 1.0, math.inf
    if 0 < share < 1:
        var = clusters / (clusters - 1) * float(((y - share * n) ** 2).sum()) / total**2
        n_eff = min(total, share * (1 - share) / var) if var > 0 else total
    else:
        n_eff = float(clusters)
    alpha = 1 - level
    n_eff *= (special.ndtri(1 - alpha / 2) / special.stdtrit(clusters - 1, 1 - alpha / 2)) ** 2
    x = share * n_eff
    low = 0.0 if share == 0 else float(special.betaincinv(x, n_eff - x + 1, alpha / 2))
    high = 1.0 if share == 1 else float(special.betaincinv(x + 1, n_eff - x, 1 - alpha / 2))
    return share, low, high, total / n_eff
