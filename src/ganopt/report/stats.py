"""Summaries over seeds: mean, std, median, a 95% t-interval, and the share of failed seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


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
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
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
