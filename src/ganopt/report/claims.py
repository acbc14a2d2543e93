"""The claims table: each claim of study.md judged on this study's runs. A row holds what the paper
says, the effect this study measured with its 95% interval over seeds and n, the threshold from
the `report.claims` config, and a verdict: holds, does not hold, inconclusive (the interval
straddles the threshold, or the runs have not plateaued at this budget), or not evaluated (its
inputs are not part of the study, with the reason); first_half / second_half give the verdict on
two disjoint halves of the reported seeds (ganopt.report.judging, ganopt.stats)."""

from __future__ import annotations

import pandas as pd

from ganopt.report.gan_claims import adam_norm_claims, versus_adam_claims
from ganopt.report.natgrad_claims import natgrad_claims
from ganopt.report.plan import StudyPlan
from ganopt.report.toy_claims import toy_claims

COLUMNS = ["id", "claim", "paper", "source", "scope", "statistic", "effect", "ci_low", "ci_high", "n", "threshold",
           "verdict", "first_half", "second_half", "note"]

# What the papers say (study.md A.1, A.3, A.5, B.1-B.4), one line per claim.
PAPER = {
    "adalr_as_good_as_adam": "AdaLR is as good as Adam: the direction does not matter (talk; E-A1 FID curves)",
    "adadir_worse_than_adam": "AdaDir (Adam's direction, SGD's norm) trains worse than Adam (talk; E-A1 FID curves)",
    "sgda_worse_than_adam": "SGDA is outperformed (significantly) by Adam (talk)",
    "nsgda_layer_as_good_as_adam": "l-nSGDA should work as well as Adam; Adam's performance recovered on several "
                                   "datasets (talk, abstract)",
    "nsgda_global_as_good_as_adam": "g-nSGDA should work as well as Adam (talk, abstract)",
    "adam_norm_constant": "The norm of the Adam direction is constant across time, per layer (talk; E-A2)",
    "toy_sgda_collapses": "Thm 4.1: under SGDA with eta_G = sqrt(d eta_D)/polylog(d), G(z) = alpha(z)(u1+u2) + xi(z) "
                          "with ||xi(z)|| = o(alpha(z)) for every z (w.p. 1 - o(1)): collapse onto u1+u2",
    "toy_nsgda_global_recovers": "Thm 4.2: nSGDA recovers both modes u1 and u2 (for an Omega(1) share of latents)",
    "toy_nsgda_layer_recovers": "Thm 4.2 is stated for nSGDA normalized per player; the talk's l-nSGDA (per tensor) "
                                "is the image experiments' variant",
    "toy_nsgda_global_trend": "Thm 4.2: the share of latents on each mode is Omega~(1), it does not vanish as d grows",
    "toy_nsgda_layer_trend": "Thm 4.2: the share of latents on each mode is Omega~(1), it does not vanish as d grows",
    "toy_nsgda_global_beats_sgda": "Thms 4.1 vs 4.2: from the same init, SGDA collapses where nSGDA learns both modes",
    "toy_nsgda_layer_beats_sgda": "Thms 4.1 vs 4.2: from the same init, SGDA collapses where nSGDA learns both modes",
    "ng_flow_monotone": "Hidden-mapping natural gradient flow: V decreases (to 0) from every init (strictly "
                        "convex-concave game, Jacobians of full rank along the trajectory)",
    "ng_lyapunov_monotone": "The theorem is about the continuous flow; the talk's experiments run it discretely "
                            "(V decreasing monotonically, figures)",
    "gda_lyapunov_not_monotone": "Plain GDA cycles or oscillates on the game (no monotone decrease of V)",
    "ng_simple_gan_better": "Simple GAN: natural gradient trains it (figure in the talk; no numbers)",
}


def claims_table(plan: StudyPlan, runs: pd.DataFrame, cv: pd.DataFrame, toy_seeds: pd.DataFrame,
                 toy_sweep: pd.DataFrame, natgrad_runs: pd.DataFrame,
                 floors: dict[tuple[str, str], float], natgrad_flows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim, in study.md's order: GAN optimizer comparisons, Adam's norm, toy, natural gradient."""
    flows = natgrad_flows if natgrad_flows is not None else pd.DataFrame()
    rows = (versus_adam_claims(plan, runs, floors) + adam_norm_claims(plan, cv, runs)
            + toy_claims(plan, toy_seeds, toy_sweep) + natgrad_claims(plan, natgrad_runs, flows))
    frame = pd.DataFrame(rows).assign(paper=lambda f: f["id"].map(PAPER))
    return frame.reindex(columns=COLUMNS)
