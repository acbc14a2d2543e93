"""The toy-theorem claims (study.md A.5): SGDA collapses the generator onto u1+u2 (Thm 4.1), the
normalized methods recover both modes (Thm 4.2); judged over the toy stage's whole sweep of
settings (d, <u1,u2>, init scale) with each optimizer's one pair of step sizes.

The effect is the share of (seed, setting) runs with the claim's event, pooled over the sweep, with
its Clopper-Pearson interval against toy.seed_share_min; the settings of one seed share its plane,
init directions and samples, so the pooled runs are not independent and the interval is a rough one.
The note says in how many settings the claim holds on its own (results/toy/sweep.csv). The
contrast rows compare each normalized method with SGDA run for run: every optimizer starts a
(seed, setting) from the same init, so the pairs are matched and the exact McNemar test applies."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.stats import FAILS, HOLDS, INCONCLUSIVE, SKIPPED, share_interval
from ganopt.toy.report import RUN, claim_counts

SOURCE = "A.1.5, E-A4"
# (id, claim, toy optimizer, seed event of ganopt.toy.report)
TOY_CLAIMS = (
    ("toy_sgda_collapses", "SGDA collapses the toy generator onto u1+u2 (Thm 4.1)", "sgda", "collapses"),
    ("toy_nsgda_global_recovers", "nsgda_global recovers both modes of the toy (Thm 4.2)", "nsgda_global",
     "both_modes"),
    ("toy_nsgda_layer_recovers", "nsgda_layer recovers both modes of the toy (Thm 4.2)", "nsgda_layer",
     "both_modes"),
)
EVENTS = {"collapses": "collapse onto u1+u2 (at the peak among steps where half the latents moved; runs "
                       "without such a step are left out)",
          "both_modes": "recover both modes at the last step"}


def _note(sweep: pd.DataFrame, optimizer: str, event: str) -> str:
    rows = sweep[sweep["optimizer"] == optimizer]
    c = claim_counts(sweep, optimizer, event)
    failing = [f"d={r.d} <u1,u2>={r.u_cos:g} init x{r.init_scale:g}: {r[f'{event}_seeds']}/{r[f'{event}_n']}"
               for _, r in rows.iterrows() if r[f"{event}_verdict"] in (FAILS, SKIPPED)]
    return (f"holds in {c[HOLDS]} of {c['settings']} settings (does not hold in {c[FAILS]}, inconclusive in "
            f"{c[INCONCLUSIVE]}, not evaluated in {c[SKIPPED]}), {int(rows['n_seeds'].iloc[0])} seeds each; "
            f"eta_G/eta_D {rows['lr_g'].iloc[0]:g}/{rows['lr_d'].iloc[0]:g} in every setting"
            + (f"; does not hold or not evaluated at: {', '.join(failing)}" if failing else ""))


def _claim(plan: StudyPlan, seeds: pd.DataFrame, sweep: pd.DataFrame, id_: str, text: str, optimizer: str,
           event: str) -> dict:
    runs = seeds[seeds["optimizer"] == optimizer] if not seeds.empty else seeds
    threshold = float(sweep["seed_share_min"].iloc[0]) if not sweep.empty else 0.5
    spec = Spec(id_, text, SOURCE, "toy", f"share of {optimizer} (seed, setting) runs that {EVENTS[event]}, "
                "pooled over the sweep", ">=", threshold)
    if runs.empty:
        return skipped(spec, "the toy stage is off" if not plan.toy else f"{optimizer} is not among toy.optimizers")
    defined = runs[runs["peak_step"].notna()] if event == "collapses" else runs

    def measure(units: Sequence[int]) -> Measure:
        part = defined[defined["seed"].isin(units)]
        return Measure(*share_interval(int(part[event].sum()), len(part)), len(part))

    return judged(spec, measure, sorted(runs["seed"].unique()), _note(sweep, optimizer, event))


def _contrast(plan: StudyPlan, seeds: pd.DataFrame, id_: str, optimizer: str) -> dict:
    """`optimizer` vs SGDA from the same inits: of the (seed, setting) pairs where exactly one of the two
    recovers both modes, the share where it is `optimizer` (exact McNemar: Clopper-Pearson on the
    discordant pairs) must be above one half."""
    spec = Spec(id_, f"{optimizer} recovers both modes of the toy more often than SGDA from the same inits "
                "(Thm 4.2 vs 4.1)", SOURCE, "toy", f"share of discordant (seed, setting) pairs where {optimizer}, "
                "not SGDA, recovers both modes", ">=", 0.5)
    present = set(seeds["optimizer"]) if not seeds.empty else set()
    if not {optimizer, "sgda"} <= present:
        return skipped(spec, "the toy stage is off" if not plan.toy else f"the toy stage lacks {optimizer} or sgda")
    key = [c for c in RUN if c != "optimizer"]
    pairs = seeds[seeds["optimizer"] == optimizer].merge(seeds[seeds["optimizer"] == "sgda"], on=key,
                                                          suffixes=("", "_sgda"))
    wins = pairs["both_modes"] & ~pairs["both_modes_sgda"]
    losses = ~pairs["both_modes"] & pairs["both_modes_sgda"]

    def measure(units: Sequence[int]) -> Measure:
        part = pairs["seed"].isin(units)
        won, lost = int((wins & part).sum()), int((losses & part).sum())
        return Measure(*share_interval(won, won + lost), won + lost)

    both = pairs["both_modes"] & pairs["both_modes_sgda"]
    note = (f"{int(wins.sum())} pairs only {optimizer} recovers both modes, {int(losses.sum())} only SGDA, "
            f"{int(both.sum())} both, {int((~pairs['both_modes'] & ~pairs['both_modes_sgda']).sum())} neither, "
            f"of {len(pairs)} (seed, setting) pairs with one shared init")
    return judged(spec, measure, sorted(pairs["seed"].unique()), note)


CONTRASTS = (("toy_nsgda_global_beats_sgda", "nsgda_global"), ("toy_nsgda_layer_beats_sgda", "nsgda_layer"))


def toy_claims(plan: StudyPlan, seeds: pd.DataFrame, sweep: pd.DataFrame) -> list[dict]:
    """The toy rows from each run's events (results/toy/seeds.csv) and the sweep summary (sweep.csv)."""
    return [_claim(plan, seeds, sweep, *claim) for claim in TOY_CLAIMS] + [
        _contrast(plan, seeds, *contrast) for contrast in CONTRASTS]
