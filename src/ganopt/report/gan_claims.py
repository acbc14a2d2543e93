"""The GAN claims: each optimizer against Adam on each dataset's ranking metric, and Adam's
per-tensor update norm being roughly constant.

"X vs Adam": each run's final ranking metric as a log "badness" (log of a lower-is-better metric,
minus the log of a higher-is-better one; a diverged run, which has no final value, is +inf, the
worst); the effect is exp of the Hodges-Lehmann shift of X's runs over Adam's, i.e. the typical
factor by which X is worse than Adam (> 1: worse), with the exact Mann-Whitney 95% interval. A
collapsed run keeps its measured value, already bad (a large FID or energy distance): setting it
to the worst value too would tie collapsed runs of both optimizers (the 0-vs-0 mode ties of issue
13), which the continuous ranking metric separates. A dataset whose runs have not plateaued (fewer
than report.claims.plateau_share_min of either optimizer's runs settled: ranking metric plateaued,
or diverged) gives "inconclusive: not converged at this budget"."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ganopt.metrics import higher_is_better
from ganopt.report.config import ClaimsConfig
from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.stats import median_interval, shift_interval

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


def badness(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """Each run's final `metric` on a log scale oriented so that larger is worse; a run without a
    final value (diverged) is +inf."""
    values = rows[f"final_{metric}"].astype(float).to_numpy()
    with np.errstate(divide="ignore"):
        out = -np.log(values) if higher_is_better(metric) else np.log(values)
    return np.where(np.isnan(out) | (rows["status"] != "ok").to_numpy(), math.inf, out)


def worse_factor(mine: pd.DataFrame, adam: pd.DataFrame, metric: str) -> Measure:
    """How many times worse than Adam `mine`'s runs typically are, with the 95% interval."""
    shift, low, high = shift_interval(badness(mine, metric), badness(adam, metric))
    return Measure(*(math.exp(v) if not math.isnan(v) else math.nan for v in (shift, low, high)),
                   min(len(mine), len(adam)))


def settled(rows: pd.DataFrame) -> pd.Series:
    """Runs whose final value is settled: ranking metric plateaued, or diverged (worst anyway)."""
    return rows["plateaued"].eq(True) | (rows["status"] != "ok")


def _gate(rows: pd.DataFrame, optimizers: tuple[str, ...], share_min: float, metric: str):
    def gate(seeds: Sequence[int]) -> str | None:
        parts = []
        for optimizer in optimizers:
            mine = rows[(rows["optimizer"] == optimizer) & rows["seed"].isin(seeds)]
            if len(mine) and settled(mine).mean() < share_min:
                parts.append(f"{optimizer} {int(settled(mine).sum())}/{len(mine)}")
        return (f"not converged at this budget: runs settled ({metric} plateaued, or diverged) "
                f"{', '.join(parts)} < {share_min:g}") if parts else None
    return gate


Gate = Callable[[Sequence[int]], str | None]  # the reason that makes a verdict on these seeds inconclusive


def _edge_gate(rows: pd.DataFrame, optimizers: tuple[str, ...], gate: Gate) -> Gate:
    """`gate`, and also inconclusive whenever one of the optimizers' tuned step sizes sits at an edge
    of its grid: its best step size may lie outside the grid, so the comparison is not yet fair."""
    edges = [f"{o} {edge} ({rows.loc[rows['optimizer'] == o, 'lr_g'].iloc[0]:g})" for o in optimizers
             for edge in rows.loc[rows["optimizer"] == o, "grid_edge"].dropna().unique()[:1]]
    edge_reason = f"tuned step size at the edge of its grid: {', '.join(edges)}" if edges else None

    def both(seeds: Sequence[int]) -> str | None:
        return "; ".join(r for r in (gate(seeds), edge_reason) if r) or None
    return both


def _reason(plan: StudyPlan, optimizer: str) -> str | None:
    """Why `optimizer` cannot be compared with Adam in this study, or None."""
    if not plan.datasets:
        return "no GAN stage in this study"
    missing = [o for o in (optimizer, "adam") if o not in plan.optimizers]
    if missing:
        return f"{missing[0]} is not among gan.optimizers"
    return None if plan.fid else "the FID stage is off (fid.activate: false)"


def _summary(rows: pd.DataFrame, metric: str, floor: float | None) -> str:
    values = rows[f"final_{metric}"].astype(float)
    floor_text = f", real-vs-real floor {floor:.4g}" if floor is not None else ""
    return (f"{rows['optimizer'].iloc[0]}: median {values.median():.4g}{floor_text} "
            f"({(rows['status'] != 'ok').sum()}/{len(rows)} diverged, {int(rows['collapsed'].sum())} collapsed, "
            f"{int(settled(rows).sum())} settled)")


def versus_adam_claims(plan: StudyPlan, runs: pd.DataFrame, floors: dict[tuple[str, str], float]) -> list[dict]:
    cfg: ClaimsConfig = plan.report.claims
    out = []
    for id_, text, source, optimizer, op, field in VERSUS_ADAM:
        for dataset in plan.datasets or ("-",):
            reason = _reason(plan, optimizer)
            rows = runs[runs["dataset"] == dataset] if reason is None else runs.iloc[:0]
            metric = rows["metric"].iloc[0] if not rows.empty else None
            spec = Spec(id_, text, source, dataset, f"factor worse than adam, final {metric or 'ranking metric'} "
                        "(Hodges-Lehmann, diverged = worst)", op, getattr(cfg, field))
            if reason is None and metric is None:
                reason = f"no metric of report.quality_metrics in {dataset}'s fid.json records"
            if reason:
                out.append(skipped(spec, reason))
                continue
            out.append(_versus(spec, rows, optimizer, metric, floors.get((dataset, metric)), cfg.plateau_share_min))
    return out


def _versus(spec: Spec, rows: pd.DataFrame, optimizer: str, metric: str, floor: float | None,
            share_min: float) -> dict:
    """One "optimizer vs Adam" row on one dataset's runs."""
    pair = rows[rows["optimizer"].isin((optimizer, "adam"))]
    mine, adam = (pair[pair["optimizer"] == o] for o in (optimizer, "adam"))
    note = "; ".join(_summary(r, metric, floor) for r in (mine, adam))
    return judged(spec, lambda seeds: worse_factor(mine[mine["seed"].isin(seeds)], adam[adam["seed"].isin(seeds)],
                                                   metric),
                  sorted(set(pair["seed"])), note,
                  _edge_gate(pair, (optimizer, "adam"), _gate(pair, (optimizer, "adam"), share_min, metric)))


def adam_norm_claims(plan: StudyPlan, cv: pd.DataFrame, runs: pd.DataFrame) -> list[dict]:
    """Median over seeds of each seed's median coefficient of variation of the update norm per
    tensor after warm-up, with the sign-test interval."""
    cfg, tensors = plan.report.claims, plan.report.norm_tensors
    statistic = (f"median over seeds of the per-seed median coefficient of variation of the update norm per "
                 f"tensor ({tensors}), after the first {plan.report.norm_warmup_frac:g} of the steps")
    out = []
    for dataset in plan.datasets or ("-",):
        spec = Spec("adam_norm_constant", "Adam's per-layer update norm is roughly constant over training",
                    "A.1.2, E-A2", dataset, statistic, "<=", cfg.norm_cv_max)
        reason = ("no GAN stage in this study" if not plan.datasets
                  else None if plan.has("adam") else "adam is not among gan.optimizers")
        if reason is None:
            ok = runs[(runs["dataset"] == dataset) & (runs["optimizer"] == "adam") & (runs["status"] == "ok")]["seed"]
            rows = cv[(cv["dataset"] == dataset) & cv["seed"].isin(ok)]
            rows = rows[rows["weight"].astype(bool)] if tensors == "weights" else rows
            per_seed = rows.dropna(subset=["cv"]).groupby("seed")["cv"].median()
            if per_seed.empty:
                reason = "no Adam run finished with two or more norm records after warm-up"
        if reason:
            out.append(skipped(spec, reason))
            continue
        out.append(_norm_row(spec, rows, per_seed))
    return out


def _norm_row(spec: Spec, rows: pd.DataFrame, per_seed: pd.Series) -> dict:
    """The Adam-norm row on one dataset: per-seed median CVs as units."""
    by_player = ", ".join(f"{p} {g.median():.3g}" for p, g in rows.dropna(subset=["cv"]).groupby("player")["cv"])
    return judged(spec, lambda seeds: Measure(*median_interval(per_seed[per_seed.index.isin(seeds)]),
                                              int(per_seed.index.isin(seeds).sum())),
                  list(per_seed.index), f"{rows['cv'].notna().sum()} tensor-runs over {len(per_seed)} seeds; median "
                  f"by player: {by_player}; range {rows['cv'].min():.3g}-{rows['cv'].max():.3g}")
