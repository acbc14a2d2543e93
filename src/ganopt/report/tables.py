"""The study's tables from the loaded runs: per GAN run and per dataset x optimizer (final and best
metrics, divergences, collapses, seed statistics), Adam's update-norm variation, and the
natural-gradient summary (the toy's table is the toy stage's sweep.csv). Pure functions of frames, so tests can feed them synthetic runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganopt.metrics import higher_is_better
from ganopt.natgrad.monotone import rises
from ganopt.natgrad.outputs import GAN_RUN_COLUMNS
from ganopt.report.config import CollapseConfig, ReportConfig
from ganopt.stats import summarize_groups

RUN_KEYS = ["dataset", "optimizer", "seed"]
NATGRAD_SETTINGS = ("player", "mu", "lam")   # warm-up: player and mu; RPS: lambda; simple GAN: none


def primary_metric(quality: pd.DataFrame, dataset: str, cfg: ReportConfig) -> str | None:
    """The metric that ranks a dataset's runs: the first of cfg.quality_metrics its records carry."""
    present = set(quality.loc[quality["dataset"] == dataset, "metric"])
    return next((m for m in cfg.quality_metrics if m in present), None)


def _collapsed(rows: pd.DataFrame, metric: str, cfg: CollapseConfig) -> pd.Series:
    """Runs of one dataset that finished with a useless generator (see CollapseConfig): a mixture
    run (modes counted) by its final modes covered, an image run by its final lower-is-better metric."""
    if "final_modes_covered" in rows:
        return rows["final_modes_covered"] <= cfg.max_modes
    if higher_is_better(metric):
        return pd.Series(False, index=rows.index)
    final = rows[f"final_{metric}"]
    best = final.groupby(rows["optimizer"]).median().min()
    return final > cfg.fid_ratio * best


def gan_runs_table(runs: pd.DataFrame, quality: pd.DataFrame, cfg: ReportConfig,
                   plateau: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run: status, step sizes, `final_<metric>` and `best_<metric>` (best over the
    evaluated steps in the metric's direction), the dataset's ranking metric, collapsed, and the
    plateau test of the ranking metric (relative_change, plateaued; from fid.json)."""
    table = runs.copy()
    if quality.empty:
        return table.assign(metric=None, collapsed=False, relative_change=None, plateaued=None, from_step=None)
    final = quality[quality["final"]].pivot_table(index=RUN_KEYS, columns="metric", values="value", dropna=False)
    best = quality.groupby(RUN_KEYS + ["metric"])["value"].agg(["min", "max"]).reset_index()
    best["best"] = np.where(best["metric"].map(higher_is_better), best["max"], best["min"])
    best = best.pivot_table(index=RUN_KEYS, columns="metric", values="best", dropna=False)
    table = table.join(final.add_prefix("final_"), on=RUN_KEYS).join(best.add_prefix("best_"), on=RUN_KEYS)
    table["metric"], table["collapsed"] = None, False
    for dataset, rows in table.groupby("dataset"):
        metric = primary_metric(quality, dataset, cfg)
        table.loc[rows.index, "metric"] = metric
        if metric is not None:
            table.loc[rows.index, "collapsed"] = _collapsed(rows, metric, cfg.collapse) & (rows["status"] == "ok")
    if plateau is None or plateau.empty:
        return table.assign(relative_change=None, plateaued=None, from_step=None)
    table = table.merge(plateau, on=RUN_KEYS + ["metric"], how="left")
    table["plateaued"] = table["plateaued"].astype(object).where(table["plateaued"].notna(), None)
    return table


def gan_summary_table(run_table: pd.DataFrame, floors: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """Per dataset x optimizer: seeds, diverged, collapsed and plateaued counts, step sizes (and
    grid_edge: tuned at an edge of the grid), ranking
    metric, its real-vs-real floor (FID/KID; NaN for others), and n/mean/std/median/min/max/95%
    t-interval over seeds of every final_* and best_* column (finite values only: a diverged seed is
    counted in `diverged`, not averaged)."""
    keys = ["dataset", "optimizer"]
    values = [c for c in run_table.columns if c.startswith(("final_", "best_"))]
    counts = run_table.groupby(keys, sort=True).agg(
        seeds=("seed", "nunique"), diverged=("status", lambda s: int((s == "diverged").sum())),
        collapsed=("collapsed", "sum"), plateaued=("plateaued", lambda s: int(s.eq(True).sum())),
        lr_g=("lr_g", "first"), lr_d=("lr_d", "first"), grid_edge=("grid_edge", "first"), metric=("metric", "first"))
    counts["collapsed"] = counts["collapsed"].astype(int)
    counts["floor"] = [(floors or {}).get((d, m), np.nan) for (d, _), m in zip(counts.index, counts["metric"])]
    stats = summarize_groups(run_table, keys, values) if values else pd.DataFrame(columns=keys)
    return counts.reset_index().merge(stats, on=keys, how="left")


def norm_cv(norms: pd.DataFrame, warmup_frac: float) -> pd.DataFrame:
    """Coefficient of variation (std/mean over steps) of each tensor's update norm per run, after
    the first `warmup_frac` of the run's steps; also the median norm there."""
    keys = ["dataset", "seed", "player", "param"]
    if norms.empty:
        return pd.DataFrame(columns=keys + ["cv", "median_norm", "points", "weight"])
    last = norms.groupby(["dataset", "seed"])["step"].transform("max")
    kept = norms[norms["step"] > warmup_frac * last]
    grouped = kept.groupby(keys)["update_norm"]
    out = grouped.agg(mean="mean", std=lambda x: x.std(ddof=0), median_norm="median", points="size").reset_index()
    out["cv"] = np.where(out["points"] >= 2, out["std"] / out["mean"], np.nan)
    out["weight"] = ~out["param"].str.endswith("bias")
    return out.drop(columns=["mean", "std"])


def adam_norms_table(cv: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x player x tensor: the coefficient of variation after warm-up over seeds."""
    keys = ["dataset", "player", "param"]
    if cv.empty:
        return pd.DataFrame(columns=keys + ["weight"])
    stats = summarize_groups(cv, keys, ["cv", "median_norm"])
    return cv.groupby(keys)["weight"].first().reset_index().merge(stats, on=keys)


def natgrad_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per natgrad run (experiment, method, setting, init): V at start and end, rises of V
    (the stage's count over every step where it records one, else over the recorded steps),
    regularization (lambda or mu; NaN for the simple GAN) and, for the GAN, its full-rank record."""
    rows = []
    for experiment, part in frame.groupby("experiment", sort=False):
        part = part.dropna(axis=1, how="all")   # columns of the other experiments
        settings = [c for c in NATGRAD_SETTINGS if c in part]
        for key, run in part.groupby(["method", *settings, "init"], sort=True):
            run = run.sort_values("step")
            record = dict(zip(["method", *settings, "init"], key))
            v = run["V"].to_numpy()
            reg = record.get("lam", record.get("mu", np.nan))
            rows.append({"experiment": experiment, **record,
                         "setting": " ".join(f"{k}={record[k]}" for k in settings) or "-",
                         "regularization": reg, "V_start": v[0], "V_end": v[-1],
                         "rises": int(run["rises"].iloc[0]) if "rises" in run else rises(v),
                         **{c: run[c].iloc[0] for c in GAN_RUN_COLUMNS if c in run}})
    return pd.DataFrame(rows)


def natgrad_summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment x method x setting: runs, share with V never rising, share ending below its
    start, and seed statistics of V_end (and, for the simple GAN, of the min singular values)."""
    keys = ["experiment", "method", "setting"]
    if runs.empty:
        return pd.DataFrame(columns=keys)
    runs = runs.assign(monotone=runs["rises"] == 0, decreased=runs["V_end"] < runs["V_start"])
    head = runs.groupby(keys, sort=False).agg(
        regularization=("regularization", "first"), runs=("init", "size"), monotone_share=("monotone", "mean"),
        decreased_share=("decreased", "mean"), V_start_median=("V_start", "median")).reset_index()
    values = ["V_end"] + [c for c in ("sigma_G_min", "sigma_D_min") if c in runs]
    return head.merge(summarize_groups(runs, keys, values), on=keys, how="left")
