"""The toy-theorem claims (study.md A.5): SGDA collapses the generator onto u1+u2 (Thm 4.1), the
normalized methods recover both modes (Thm 4.2); judged on each optimizer's first step-size
setting, seeds as units (sign-test interval of a median, Clopper-Pearson interval of a share)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.report.stats import median_interval, share_interval

TOY_NORMALIZED = ("nsgda_global", "nsgda_layer")
SOURCE = "A.1.5, E-A4"


def _first_setting(toy: pd.DataFrame, optimizer: str) -> pd.DataFrame:
    return toy[(toy["optimizer"] == optimizer) & (toy["setting"] == 0)] if not toy.empty else toy


def _collapse(plan: StudyPlan, toy: pd.DataFrame) -> dict:
    spec = Spec("toy_sgda_collapses", "SGDA collapses the toy generator onto u1+u2 (Thm 4.1)", SOURCE, "toy",
                "median over seeds of the mean |cos(G(z), u1+u2)| over moved latents, at the step where its "
                "seed-mean peaks, SGDA's first setting", ">=", plan.report.claims.toy_collapse_cos_min)
    runs = _first_setting(toy, "sgda")
    moved = runs.groupby("step")["collapse_cos/moved"].mean().dropna() if not runs.empty else pd.Series()
    if moved.empty:
        return skipped(spec, "the toy stage is off" if not plan.toy else "sgda is not among toy.optimizers"
                       if "sgda" not in plan.toy else "no SGDA latent moved from its initialization")
    at = runs[runs["step"] == int(moved.idxmax())].set_index("seed")["collapse_cos/moved"].dropna()

    def measure(seeds: Sequence[int]) -> Measure:
        values = at[at.index.isin(seeds)]
        return Measure(*median_interval(values), len(values))

    row = runs.iloc[0]
    return judged(spec, measure, list(at.index), f"step {int(moved.idxmax())}, lr_g/lr_d {row['lr_g']:g}/"
                  f"{row['lr_d']:g}; {len(at)} of {runs['seed'].nunique()} seeds have moved latents there")


def _recovery(plan: StudyPlan, toy: pd.DataFrame, optimizer: str, both_min: float) -> dict:
    spec = Spec(f"toy_{optimizer}_recovers", f"{optimizer} recovers both modes of the toy (Thm 4.2)", SOURCE, "toy",
                f"share of seeds recovering both modes (both recovery rates >= {both_min:g}) at the last step, "
                f"{optimizer}'s first setting", ">=", plan.report.claims.toy_recovery_share_min)
    runs = _first_setting(toy, optimizer)
    if runs.empty:
        return skipped(spec, "the toy stage is off" if not plan.toy else f"{optimizer} is not among toy.optimizers")
    end = runs[runs["step"] == runs["step"].max()].set_index("seed")
    both = (end["recovery/u1/all"] >= both_min) & (end["recovery/u2/all"] >= both_min)

    def measure(seeds: Sequence[int]) -> Measure:
        mine = both[both.index.isin(seeds)]
        return Measure(*share_interval(int(mine.sum()), len(mine)), len(mine))

    return judged(spec, measure, list(both.index),
                  f"{int(both.sum())}/{len(both)} seeds at step {int(runs['step'].max())}; recovery u1/u2 (all "
                  f"latents, seed mean) {end['recovery/u1/all'].mean():.3g}/{end['recovery/u2/all'].mean():.3g}")


def toy_claims(plan: StudyPlan, toy: pd.DataFrame, both_min: float) -> list[dict]:
    """The toy rows from the per-seed toy trajectories (results/toy/<optimizer>.csv, all optimizers)."""
    return [_collapse(plan, toy)] + [_recovery(plan, toy, o, both_min) for o in TOY_NORMALIZED]
