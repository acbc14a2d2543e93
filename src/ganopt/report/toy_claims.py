"""The toy-theorem claims (study.md A.5), judged per d as the theorems are stated, from each run's
shares and events at the study's one step rule (the last step T(d); results/toy/seeds.csv):

- per d: SGDA collapses onto u1+u2 (Thm 4.1: p_s >= toy.collapse_min), nSGDA recovers both modes
  (Thm 4.2: min(p1, p2) >= one latent's worth), as shares of seeds against toy.seed_share_min;
  the paired contrast of each nSGDA with SGDA from the same inits (exact McNemar: Clopper-Pearson
  on the discordant pairs);
- over all d: the same shares pooled, with a seed's runs at every d as one cluster (Korn-Graubard
  interval, ganopt.stats.clustered_share_interval: it is the exact Clopper-Pearson interval
  whenever each seed has one run in the row, so per-d rows with one u_cos are exact);
- the trend: min(p1, p2) does not fall with d (Thm 4.2's Omega~(1) share does not vanish with d):
  the Hodges-Lehmann shift of min(p1, p2) from the smallest to the largest d with its exact
  Mann-Whitney interval, at or above minus one latent's worth at the largest d (a fall smaller than
  the event's own resolution is no fall).

nsgda_layer normalizes D's scalar bias on its own (a sign step of eta_D every step): it is the image
experiments' l-nSGDA, not the theorem's algorithm (toy.schema.yaml), so its rows test it beyond Thm 4.2."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ganopt.report.judging import Measure, Spec, judged, skipped
from ganopt.report.plan import StudyPlan
from ganopt.stats import clustered_share_interval, median_interval, shift_interval

SOURCE = "A.1.5, E-A4"
# (id, claim, toy optimizer, run event of ganopt.toy.report)
TOY_CLAIMS = (
    ("toy_sgda_collapses", "SGDA collapses the toy generator onto u1+u2 (Thm 4.1)", "sgda", "collapses"),
    ("toy_nsgda_global_recovers", "g-nSGDA recovers both modes of the toy (Thm 4.2)", "nsgda_global", "both_modes"),
    ("toy_nsgda_layer_recovers", "l-nSGDA (bias normalized on its own; not the theorem's algorithm) recovers both "
     "modes of the toy", "nsgda_layer", "both_modes"),
)
EVENTS = {"collapses": "collapse onto u1+u2 (p_s >= toy.collapse_min)",
          "both_modes": "recover both modes (min(p1, p2) >= one latent's worth)"}
CONTRASTS = (("toy_nsgda_global_beats_sgda", "nsgda_global"), ("toy_nsgda_layer_beats_sgda", "nsgda_layer"))
TRENDS = (("toy_nsgda_global_trend", "nsgda_global"), ("toy_nsgda_layer_trend", "nsgda_layer"))


def _scope(ds: Sequence[int]) -> str:
    """"toy d=<d>" for one d, "toy all d" for several, "toy" when the stage has no runs."""
    return "toy" if not ds else f"toy d={ds[0]}" if len(ds) == 1 else "toy all d"


def _absent(plan: StudyPlan, seeds: pd.DataFrame, optimizers: Sequence[str]) -> str | None:
    """Why a toy claim cannot be judged, or None."""
    if not plan.toy:
        return "the toy stage is off"
    present = set(seeds["optimizer"]) if not seeds.empty else set()
    missing = [o for o in optimizers if o not in present]
    return f"{' and '.join(missing)} not among toy.optimizers" if missing else None


def _share_measure(runs: pd.DataFrame, column: str):
    """A Measure of the share of `runs` with `column`, clustered by seed (ganopt.stats)."""
    def measure(units: Sequence[int]) -> Measure:
        part = runs[runs["seed"].isin(units)].groupby("seed")[column]
        share, low, high, _ = clustered_share_interval(part.sum().to_numpy(float), part.size().to_numpy(float))
        return Measure(share, low, high, int(part.size().sum()))
    return measure


def _describe(runs: pd.DataFrame) -> str:
    mid, low, high = median_interval(runs["min_p"].to_numpy())
    seeds = runs.groupby("seed")
    design = clustered_share_interval(seeds["both_modes"].sum().to_numpy(float), seeds.size().to_numpy(float))[3]
    return (f"medians: min(p1,p2) {mid:.3g} [{low:.3g}, {high:.3g}], p1+p2 {runs['sum_p'].median():.3g}, "
            f"|p1-p2| {runs['gap_p'].median():.3g}, p_s {runs['p_s'].median():.3g}, moved {runs['moved'].median():.3g}; "
            f"strict rule (min(p1,p2) >= toy.strict_min) in {int(runs['both_modes_strict'].sum())}/{len(runs)}; "
            f"eta_G/eta_D {', '.join(f'{g:.3g}/{d:.3g}' for g, d in runs[['lr_g', 'lr_d']].drop_duplicates().values)}"
            + (f"; design effect {design:.2f}" if runs["d"].nunique() > 1 or runs["u_cos"].nunique() > 1 else ""))


def _claim(plan: StudyPlan, seeds: pd.DataFrame, threshold: float, ds: Sequence[int], id_: str, text: str,
           optimizer: str, event: str) -> dict:
    spec = Spec(id_, text, SOURCE, _scope(ds), f"share of {optimizer} runs that {EVENTS[event]} at step T(d)"
                + ("; seeds as clusters across d (Korn-Graubard interval)" if len(ds) > 1 else ""), ">=", threshold)
    reason = _absent(plan, seeds, [optimizer])
    if reason:
        return skipped(spec, reason)
    runs = seeds[(seeds["optimizer"] == optimizer) & seeds["d"].isin(ds)]
    return judged(spec, _share_measure(runs, event), sorted(runs["seed"].unique()), _describe(runs))


def _contrast(plan: StudyPlan, seeds: pd.DataFrame, ds: Sequence[int], id_: str, optimizer: str) -> dict:
    """`optimizer` vs SGDA from the same inits: of the runs where exactly one of the two recovers both
    modes, the share where it is `optimizer` (exact McNemar: Clopper-Pearson on the discordant pairs)
    must be above one half."""
    spec = Spec(id_, f"{optimizer} recovers both modes of the toy more often than SGDA from the same inits "
                "(Thm 4.2 vs 4.1)", SOURCE, _scope(ds), f"share of discordant (seed, setting) pairs where "
                f"{optimizer}, not SGDA, recovers both modes (exact McNemar)", ">=", 0.5)
    reason = _absent(plan, seeds, [optimizer, "sgda"])
    if reason:
        return skipped(spec, reason)
    key = ["d", "u_cos", "seed"]
    mine = seeds[seeds["d"].isin(ds)]
    pairs = mine[mine["optimizer"] == optimizer].merge(mine[mine["optimizer"] == "sgda"], on=key, suffixes=("", "_sgda"))
    pairs = pairs.assign(won=pairs["both_modes"] & ~pairs["both_modes_sgda"],
                         discordant=pairs["both_modes"] != pairs["both_modes_sgda"])

    def measure(units: Sequence[int]) -> Measure:
        part = pairs[pairs["seed"].isin(units)].groupby("seed")
        share, low, high, _ = clustered_share_interval(part["won"].sum().to_numpy(float),
                                                       part["discordant"].sum().to_numpy(float))
        return Measure(share, low, high, int(part["discordant"].sum().sum()))

    both = pairs["both_modes"] & pairs["both_modes_sgda"]
    note = (f"{int(pairs['won'].sum())} pairs only {optimizer} recovers both modes, "
            f"{int((pairs['discordant'] & ~pairs['won']).sum())} only SGDA, {int(both.sum())} both, "
            f"{int((~pairs['discordant'] & ~both).sum())} neither, of {len(pairs)} (seed, setting) pairs with one shared init")
    return judged(spec, measure, sorted(pairs["seed"].unique()), note)


def _trend(plan: StudyPlan, seeds: pd.DataFrame, id_: str, optimizer: str) -> dict:
    ds = sorted(set(seeds["d"])) if not seeds.empty else []
    one = float(seeds.loc[seeds["d"] == ds[-1], "one_latent"].iloc[0]) if ds else 0.0
    spec = Spec(id_, f"{optimizer}'s share of latents on its weaker mode does not fall with d (Thm 4.2: Omega~(1))",
                SOURCE, "toy across d", "Hodges-Lehmann shift of min(p1, p2), largest d minus smallest d "
                "(exact Mann-Whitney interval); threshold: minus one latent's worth at the largest d", ">=", -one)
    reason = _absent(plan, seeds, [optimizer]) or (None if len(ds) > 1 else "needs at least two values of toy.d")
    if reason:
        return skipped(spec, reason)
    runs = seeds[seeds["optimizer"] == optimizer]

    def measure(units: Sequence[int]) -> Measure:
        part = runs[runs["seed"].isin(units)]
        large, small = (part.loc[part["d"] == d, "min_p"].to_numpy(float) for d in (ds[-1], ds[0]))
        return Measure(*shift_interval(large, small), len(large) + len(small))

    medians = runs.groupby("d")["min_p"].median()
    note = ("median min(p1,p2) by d: " + ", ".join(f"d={d} {medians[d]:.3g}" for d in ds)
            + f"; smallest d {ds[0]} vs largest d {ds[-1]}")
    return judged(spec, measure, sorted(runs["seed"].unique()), note)


def toy_claims(plan: StudyPlan, seeds: pd.DataFrame, sweep: pd.DataFrame) -> list[dict]:
    """The toy rows from each run's events (results/toy/seeds.csv) and the per-d summary (sweep.csv,
    for toy.seed_share_min): per d, over all d (seed clusters), the trends and the contrasts per d."""
    threshold = float(sweep["seed_share_min"].iloc[0]) if not sweep.empty else 0.5
    ds = sorted(set(seeds["d"])) if not seeds.empty else []
    scopes = [[d] for d in ds] + ([ds] if len(ds) > 1 else []) or [[]]
    rows = [_claim(plan, seeds, threshold, scope, *claim) for claim in TOY_CLAIMS for scope in scopes]
    rows += [_trend(plan, seeds, *trend) for trend in TRENDS]
    return rows + [_contrast(plan, seeds, scope, *contrast) for contrast in CONTRASTS for scope in [[d] for d in ds] or [[]]]

