"""The study report: the claims' intervals (coverage on synthetic seeds with a known effect) and
verdicts, tables and claims computed right on small synthetic run folders (claims that hold, do
not hold, are inconclusive or not evaluated), figures and report.md on them, and on the smoke
study: report.md links only existing files, figures are PNGs, `snakemake --report` writes HTML,
MLflow holds the study's parent run with the report as artifacts."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import assert_not_blank, chromium, needs_chromium
from scipy import stats

from ganopt.errors import BadFileError, DataMissingError
from ganopt.report import runs as load
from ganopt.report import tables as build
from ganopt.report.document import claims_html, render
from ganopt.report.figures import draw_all
from ganopt.report.jobs import aggregate
from ganopt.report.plan import study_plan
from ganopt.stats import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    SKIPPED,
    VERDICTS,
    median_interval,
    share_interval,
    shift_interval,
    verdict,
)

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

# Synthetic GAN finals: (dataset, optimizer) -> final ranking metric per seed (None = diverged run);
# digits: fid_domain, ring8: energy_data (adalr 4x adam's, sgda's runs cover no mode: collapsed).
DIGITS = {"adam": [40.0, 42.0, 38.0, 41.0, 39.0, 40.0], "adalr": [41.0, 45.0, 39.0, 40.0, 42.0, 43.0],
          "sgda": [100.0, 90.0, None, 95.0, 110.0, 105.0]}
RING8 = {"adam": [0.010, 0.012, 0.011, 0.009, 0.010, 0.013], "adalr": [0.04, 0.048, 0.044, 0.036, 0.04, 0.052],
         "sgda": [0.5, 0.6, 0.4, 0.55, 0.45, 0.5]}
SEEDS = 6
FLOOR = 12.0   # digits' real-vs-real fid_domain
NORM_STEPS = list(range(10, 101, 10))   # warm-up 0.1 of 100 steps leaves steps 20..100 (9 points)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _norm_series(dataset: str, step: int) -> dict[str, float]:
    """ring8: weights alternate 1.0/1.2 (CV 1/11), digits: weights grow with the step; biases jump."""
    weight = (1.0 if step % 20 else 1.2) if dataset == "ring8" else step / 10
    return {"w": weight, "b": 100.0 if step == 50 else 0.01}


def _gan_run(root: Path, dataset: str, optimizer: str, seed: int, final: float | None) -> None:
    folder = root / "results" / "gan" / dataset / optimizer / f"seed{seed}"
    diverged = final is None
    _write(folder / "status.json", json.dumps({"status": "diverged" if diverged else "ok", "step": 60 if diverged else 100,
                                               "reason": "loss/D is nan" if diverged else None}))
    _write(folder / "run.json", json.dumps({"resolved": {"lr_g": 1e-3, "lr_d": 2e-3, "scheme": "simultaneous"}}))
    if dataset == "digits":
        early = {"status": "ok", "fid_domain": 500.0 + seed, "kid_domain": 0.5}
        last = {"status": "nonfinite"} if diverged else {"status": "ok", "fid_domain": final, "kid_domain": final / 1000}
        sources = {"domain": {"fid_domain_real": FLOOR, "kid_domain_real": 0.001, "real_n": 100}}
    else:
        modes = 0 if optimizer == "sgda" else 8
        early = {"status": "ok", "modes_covered": 1, "n_modes": 8, "high_quality_frac": 0.1, "energy_data": 2.0}
        last = {"status": "ok", "modes_covered": modes, "n_modes": 8, "high_quality_frac": modes / 10,
                "energy_data": final}
        sources = {"modes": {"radius_std": 3.0}}
    records = [{"step": 50, "final": False, "file": "snapshots/step50.pt", **early},
               {"step": 60 if diverged else 100, "final": True, "file": "checkpoint.pt", **last}]
    plateau = {k: {"relative_change": 0.01, "plateaued": not diverged, "from_step": 75} for k in last if k != "status"}
    _write(folder / "fid.json", json.dumps({"records": records, "run_status": "diverged" if diverged else "ok",
                                            "sources": sources, "plateau": plateau}))
    rows = [(step, player, f"net.{name}", value * (2 if player == "D" else 1), 1.0)
            for step in NORM_STEPS for player in ("G", "D") for name, value in
            {"0.weight": _norm_series(dataset, step)["w"], "0.bias": _norm_series(dataset, step)["b"]}.items()]
    pd.DataFrame(rows, columns=["step", "player", "param", "update_norm", "direction_norm"]).to_csv(
        folder / "norms.csv", index=False)
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [seed, final or 0])
    fig.savefig(folder / "samples.png")


def _toy(root: Path) -> None:
    """The toy stage at d = 50 and 200, 16 seeds each: sgda collapses in 13 and 14 seeds and never
    recovers both modes; nsgda_global recovers both modes in 16 and 10 seeds (holds at d = 50,
    inconclusive at d = 200) and its median min(p1, p2) falls from 0.3 to 0.15."""
    from ganopt.toy.report import last_step_events, summary_table

    rows = []
    for optimizer, counts in (("sgda", (13, 14)), ("nsgda_global", (16, 10))):
        for d, k in zip((50, 200), counts):
            for seed in range(16):
                hit = seed < k
                p1 = (0.3 if d == 50 else 0.15) if optimizer == "nsgda_global" and hit else 0.0
                rows.append({"optimizer": optimizer, "d": d, "u_cos": 0.4, "seed": seed, "lr_g": 0.1, "lr_d": 0.01,
                             "m": 10, "one_latent": 0.098, "step": 100, "p1": p1, "p2": p1,
                             "p_s": 0.7 if optimizer == "sgda" and hit else 0.1, "moved": 0.9, "xi_ratio": 1.0})
    events = last_step_events(pd.DataFrame(rows), collapse_min=0.5, strict_min=0.2)
    folder = root / "results" / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    events.to_csv(folder / "seeds.csv", index=False)
    summary_table(events, seed_share_min=0.5).to_csv(folder / "sweep.csv", index=False)
    for optimizer in ("sgda", "nsgda_global"):
        _write(folder / f"{optimizer}.json", json.dumps({"config": {"strict_min": 0.2}}))
    (folder / "compare.png").write_bytes(PNG + b"synthetic")


def _flow_rows(setting: str, lr: float, euler: dict[float, list[int]], inside: list[bool]) -> pd.DataFrame:
    """A flow.csv: Euler rises per step size and init, the RK4 reference (no rises) with `inside`."""
    rows = [{"setting": setting, "init": i, "lr": lr, "integrator": "euler", "step_size": h, "rises": r,
             "V_start": 0.2, "V_end": 0.01, "finite": True, "sigma_F_min": None, "sigma_G_min": None,
             "ref_error": None, "inside": None} for h, rises in euler.items() for i, r in enumerate(rises)]
    rows += [{"setting": setting, "init": i, "lr": lr, "integrator": "rk4", "step_size": lr, "rises": 0 if ok else 3,
              "V_start": 0.2, "V_end": 0.01, "finite": True, "sigma_F_min": 0.3 if ok else 1e-9, "sigma_G_min": 0.4,
              "ref_error": 1e-5, "inside": ok} for i, ok in enumerate(inside)]
    return pd.DataFrame(rows)


def _natgrad(root: Path) -> None:
    """rps (lam 1; lam 0 is no claim): gda rises in 1 of 4 runs; the flow check: init 3 leaves the
    full-rank assumption, NG at lr = 0.05 rises on init 1 (of 3 inside), not at 0.025, the RK4
    reference never; gan (10 inits, every one inside): ng never rises, gda always does, ng's final V is
    0.2-0.75 of gda's on every init."""
    folder = root / "results" / "natgrad"
    rps = {"ng": [0, 2, 0, 5], "gda": [0, 0, 0, 7]}
    for method, rises in rps.items():
        rows = [{"method": method, "lam": lam, "init": init, "step": step, "V": 0.2 / (1 + step),
                 "rises": rises[init] if lam > 0 else 9}
                for lam in (0.0, 1.0) for init in range(4) for step in (0, 5, 10)]
        (folder / "rps").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / "rps" / f"{method}.csv", index=False)
    _flow_rows("lam=1", 0.05, {0.05: rps["ng"], 0.025: [0, 0, 0, 4]}, [True, True, True, False]).to_csv(
        folder / "rps" / "flow.csv", index=False)
    gan = {"ng": [0.1, 0.2, 0.3, 0.15, 0.25, 0.2, 0.1, 0.3, 0.2, 0.15],
           "gda": [0.4, 0.4, 0.6, 0.5, 0.45, 0.55, 0.5, 0.6, 0.4, 0.45]}
    for method, v_end in gan.items():
        rows = [{"method": method, "init": init, "step": step, "V": v_end[init] * (2 - step / 10),
                 "rises": 0 if method == "ng" else 3, "sigma_G_min": 0.1, "sigma_D_min": 0.2}
                for init in range(10) for step in (0, 10)]
        (folder / "gan").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / "gan" / f"{method}.csv", index=False)
    _flow_rows("mu=1", 1.0, {1.0: [0] * 10, 0.5: [0] * 10}, [True] * 10).to_csv(folder / "gan" / "flow.csv", index=False)
    (folder / "rps" / "V.png").write_bytes(PNG + b"synthetic")


@pytest.fixture
def synthetic(tmp_path: Path):
    """A study folder with GAN runs (2 datasets x adam/adalr/sgda x 6 seeds), toy and natgrad outputs,
    and its plan (FID on, toy and natgrad rps+gan run, warmup not)."""
    targets = []
    for dataset, finals in (("digits", DIGITS), ("ring8", RING8)):
        for optimizer, values in finals.items():
            for seed, final in enumerate(values):
                _gan_run(tmp_path, dataset, optimizer, seed, final)
                run = f"results/gan/{dataset}/{optimizer}/seed{seed}"
                targets += [f"{run}/status.json", f"{run}/fid.json"]
    _toy(tmp_path)
    _natgrad(tmp_path)
    targets += ["results/toy/sgda.csv", "results/toy/sgda.json", "results/toy/nsgda_global.csv",
                "results/toy/nsgda_global.json", "results/toy/compare.png", "results/toy/sweep.csv",
                "results/natgrad/rps/ng.csv", "results/natgrad/rps/gda.csv", "results/natgrad/rps/flow.csv",
                "results/natgrad/rps/V.png", "results/natgrad/gan/ng.csv", "results/natgrad/gan/gda.csv",
                "results/natgrad/gan/flow.csv"]
    return tmp_path, study_plan({"study": "synthetic"}, targets)


def claim(claims: pd.DataFrame, id_: str, scope: str) -> pd.Series:
    rows = claims[(claims["id"] == id_) & (claims["scope"] == scope)]
    assert len(rows) == 1, (id_, scope, claims[["id", "scope"]])
    return rows.iloc[0]


def test_plan_reads_the_stages_off_their_targets(synthetic) -> None:
    _, plan = synthetic
    assert plan.datasets == ("digits", "ring8") and plan.optimizers == ("adam", "adalr", "sgda")
    assert plan.seeds == tuple(range(SEEDS)) and plan.fid and plan.toy == ("sgda", "nsgda_global")
    assert [Path(t.path).stem for t in plan.tables()] == ["gan_runs", "gan_summary", "adam_norms", "toy_summary",
                                                          "natgrad_summary", "natgrad_flow", "claims"]
    figures = [f.path for f in plan.figures()]
    assert "results/figures/grafting_digits.png" in figures and "results/figures/nsgda_digits.png" not in figures
    assert "results/figures/toy_compare.png" in figures and "results/figures/natgrad_rps_V.png" in figures
    assert len(figures) == len(set(figures))


def test_gan_summary_statistics_over_seeds(synthetic) -> None:
    root, plan = synthetic
    tables = aggregate(plan, root)
    summary = tables["gan_summary"].set_index(["dataset", "optimizer"])
    adam = summary.loc[("digits", "adam")]
    x = np.array(DIGITS["adam"])
    half = stats.t.ppf(0.975, SEEDS - 1) * x.std(ddof=1) / math.sqrt(SEEDS)
    assert adam["final_fid_domain_mean"] == pytest.approx(x.mean())
    assert adam["final_fid_domain_std"] == pytest.approx(x.std(ddof=1))
    assert adam["final_fid_domain_median"] == pytest.approx(40.0)
    assert adam["final_fid_domain_ci95_low"] == pytest.approx(x.mean() - half)
    assert adam["final_fid_domain_ci95_high"] == pytest.approx(x.mean() + half)
    assert adam["best_fid_domain_min"] == pytest.approx(38.0) and adam["metric"] == "fid_domain"
    sgda = summary.loc[("digits", "sgda")]
    assert (sgda["diverged"], sgda["final_fid_domain_n"], sgda["final_fid_domain_mean"]) == (1, 5, 100.0)
    # the diverged seed still has a best value: its early snapshot (502)
    assert (sgda["best_fid_domain_n"], sgda["best_fid_domain_max"]) == (SEEDS, 502.0)
    assert sgda["collapsed"] == 0          # 90-110 are below 5 x 40 (the best median final FID)
    ring = summary.loc[("ring8", "adalr")]
    assert ring["metric"] == "energy_data" and ring["best_modes_covered_median"] == pytest.approx(8.0)
    assert (summary.loc[("ring8", "sgda"), "collapsed"], ring["collapsed"]) == (SEEDS, 0)   # <= 1 mode covered
    runs = tables["gan_runs"]
    assert runs.loc[runs["status"] == "ok", "plateaued"].eq(True).all()
    assert runs.loc[runs["status"] == "diverged", "plateaued"].isna().all()   # no finite end to test


def test_claims_table_verdicts(synthetic) -> None:
    root, plan = synthetic
    claims = aggregate(plan, root)["claims"]
    assert list(claims.columns[:3]) == ["id", "claim", "paper"] and claims["paper"].str.len().gt(0).all()
    # digits: adalr vs adam, Hodges-Lehmann factor of final FID with the exact Mann-Whitney interval
    row = claim(claims, "adalr_as_good_as_adam", "digits")
    d = np.sort(np.log(DIGITS["adalr"])[:, None] - np.log(DIGITS["adam"])[None, :], axis=None)
    assert row["effect"] == pytest.approx(math.exp(np.median(d)))
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(math.exp(d[5])), pytest.approx(math.exp(d[30])))
    assert row["ci_high"] < 1.25 and (row["verdict"], row["threshold"], row["n"]) == (HOLDS, "<= 1.25", SEEDS)
    assert f"real-vs-real floor {FLOOR:g}" in row["note"]
    # halves of 3 seeds against 3: no 95% interval exists, so each half is inconclusive
    assert row["first_half"].startswith(INCONCLUSIVE) and row["second_half"].startswith(INCONCLUSIVE)
    row = claim(claims, "sgda_worse_than_adam", "digits")   # the diverged seed counts as the worst value
    assert row["ci_low"] >= 1.25 and row["verdict"] == HOLDS
    # ring8, energy distance: adalr 4x adam's -> "as good" does not hold; sgda's collapsed runs keep
    # their (bad) values, so collapsed runs would still rank against each other
    row = claim(claims, "adalr_as_good_as_adam", "ring8")
    assert row["effect"] == pytest.approx(4.0, rel=0.05) and row["ci_low"] > 1.25 and row["verdict"] == FAILS
    row = claim(claims, "sgda_worse_than_adam", "ring8")
    assert 10 < row["effect"] < math.inf and row["verdict"] == HOLDS
    # optimizers outside the study are not evaluated, with the reason
    row = claim(claims, "adadir_worse_than_adam", "digits")
    assert row["verdict"] == SKIPPED and "adadir is not among gan.optimizers" in row["note"]
    assert math.isnan(row["effect"]) and row["n"] == 0
    # Adam's weight norms: ring8 alternates 1.0/1.2 after warm-up (CV 0.0907) in every seed
    w = np.array([1.0 if s % 20 else 1.2 for s in NORM_STEPS if s > 10])
    row = claim(claims, "adam_norm_constant", "ring8")
    assert (row["effect"], row["ci_high"], row["verdict"]) == (pytest.approx(w.std() / w.mean()),
                                                               pytest.approx(w.std() / w.mean()), HOLDS)
    g = np.array([s / 10 for s in NORM_STEPS if s > 10])
    assert claim(claims, "adam_norm_constant", "digits")["effect"] == pytest.approx(g.std() / g.mean())
    # toy, per d (one run per seed: exact Clopper-Pearson): sgda collapses in 13/16 and 14/16 (both hold);
    # nsgda_global recovers in 16/16 (holds) and 10/16 (inconclusive); over all d the seeds are clusters
    row = claim(claims, "toy_sgda_collapses", "toy d=50")
    assert (row["effect"], row["n"], row["verdict"]) == (pytest.approx(13 / 16), 16, HOLDS)
    assert row["ci_low"] == pytest.approx(share_interval(13, 16)[1]) and row["threshold"] == ">= 0.5"
    assert claim(claims, "toy_nsgda_global_recovers", "toy d=50")["verdict"] == HOLDS
    row = claim(claims, "toy_nsgda_global_recovers", "toy d=200")
    assert (row["effect"], row["verdict"]) == (pytest.approx(10 / 16), INCONCLUSIVE)
    row = claim(claims, "toy_nsgda_global_recovers", "toy all d")
    assert (row["effect"], row["n"]) == (pytest.approx(26 / 32), 32) and "design effect" in row["note"]
    assert row["ci_low"] < share_interval(26, 32)[1]                  # wider than if the 32 runs were independent
    assert claim(claims, "toy_nsgda_layer_recovers", "toy d=50")["verdict"] == SKIPPED
    # trend: min(p1, p2) falls from 0.3 to 0.15 in most runs: the shift's interval lies below -0.098
    row = claim(claims, "toy_nsgda_global_trend", "toy across d")
    assert row["verdict"] == FAILS and row["threshold"] == ">= -0.098" and row["n"] == 32
    # contrast with SGDA (which never recovers both modes here): 16 and 10 discordant pairs, all nsgda_global's
    row = claim(claims, "toy_nsgda_global_beats_sgda", "toy d=200")
    assert (row["effect"], row["n"], row["verdict"]) == (1.0, 10, HOLDS)
    assert row["note"].startswith("10 pairs only nsgda_global recovers both modes, 0 only SGDA, 0 both, 6 neither")
    assert claim(claims, "toy_nsgda_layer_beats_sgda", "toy d=50")["verdict"] == SKIPPED
    # natgrad, per setting: the rps flow never rises on the 3 inits inside the assumption (holds: a count
    # of 0); NG at its step rises on 1 of them (does not hold), none at half the step; gda 1/4 rising:
    # too few runs to decide; the gan's flow and NG hold, gda rises in 10/10 (Clopper-Pearson low 0.69)
    row = claim(claims, "ng_flow_monotone", "rps lam=1")
    assert (row["effect"], row["ci_high"], row["n"], row["verdict"], row["threshold"]) == (0, 0, 3, HOLDS, "<= 0")
    assert row["note"].startswith("1/4 inits left the full-rank assumption") and "violations 0/3" in row["note"]
    row = claim(claims, "ng_lyapunov_monotone", "rps lam=1")
    assert (row["effect"], row["n"], row["verdict"]) == (1, 3, FAILS)
    assert "the flow is monotone, the discretization at step 0.05 is not (none from step 0.025)" in row["note"]
    assert claim(claims, "gda_lyapunov_not_monotone", "rps lam=1")["verdict"] == INCONCLUSIVE
    assert claim(claims, "ng_flow_monotone", "gan mu=1")["verdict"] == HOLDS
    assert claim(claims, "ng_lyapunov_monotone", "gan mu=1")["verdict"] == HOLDS
    assert claim(claims, "gda_lyapunov_not_monotone", "gan mu=1")["verdict"] == HOLDS
    assert not (claims["scope"] == "warmup").any()          # the warm-up did not run: no setting of it
    row = claim(claims, "ng_simple_gan_better", "gan")
    assert row["ci_high"] < 1.0 and (row["n"], row["verdict"]) == (10, HOLDS)
    assert set(claims["verdict"]) == {HOLDS, FAILS, INCONCLUSIVE, SKIPPED}


def test_runs_that_have_not_plateaued_are_not_converged(synthetic) -> None:
    """ring8 adalr: 4 of 6 runs still changing -> inconclusive, whatever the interval says."""
    root, plan = synthetic
    for seed in range(4):
        path = root / "results" / "gan" / "ring8" / "adalr" / f"seed{seed}" / "fid.json"
        record = json.loads(path.read_text())
        record["plateau"]["energy_data"] |= {"relative_change": -0.3, "plateaued": False}
        path.write_text(json.dumps(record))
    row = claim(aggregate(plan, root)["claims"], "adalr_as_good_as_adam", "ring8")
    assert row["verdict"] == INCONCLUSIVE and row["ci_low"] > 1.25
    assert row["note"].startswith("not converged at this budget") and "adalr 2/6" in row["note"]
    assert row["first_half"].startswith(INCONCLUSIVE) and row["second_half"].startswith(INCONCLUSIVE)


def test_interval_straddling_the_threshold_is_inconclusive(synthetic) -> None:
    root, plan = synthetic
    row = claim(aggregate(plan, root)["claims"], "adalr_as_good_as_adam", "digits")
    inside = (row["ci_low"] + row["ci_high"]) / 2
    strict = dataclasses.replace(plan, report=dataclasses.replace(
        plan.report, claims=dataclasses.replace(plan.report.claims, approx_max_ratio=inside)))
    row = claim(aggregate(strict, root)["claims"], "adalr_as_good_as_adam", "digits")
    assert row["ci_low"] < inside < row["ci_high"] and row["verdict"] == INCONCLUSIVE
    assert verdict(0.9, 1.1, "<=", 1.0) == verdict(0.9, 1.1, ">=", 1.0) == INCONCLUSIVE
    assert (verdict(0.8, 0.9, "<=", 1.0), verdict(0.8, 0.9, ">=", 1.0)) == (HOLDS, FAILS)
    assert verdict(math.nan, math.nan, "<=", 1.0) == SKIPPED


def test_norms_threshold_and_tensor_choice_come_from_config(synthetic) -> None:
    root, plan = synthetic
    strict = dataclasses.replace(plan, report=dataclasses.replace(
        plan.report, norm_tensors="all", claims=dataclasses.replace(plan.report.claims, norm_cv_max=0.05)))
    claims = aggregate(strict, root)["claims"]
    row = claim(claims, "adam_norm_constant", "ring8")
    assert row["verdict"] == FAILS and row["threshold"] == "<= 0.05"
    assert row["effect"] > 0.0907   # biases (one jump to 100) now count


def test_stage_switched_off_is_not_evaluated(synthetic) -> None:
    root, plan = synthetic
    claims = aggregate(dataclasses.replace(plan, toy=(), natgrad=(), fid=False), root)["claims"]
    assert claim(claims, "adalr_as_good_as_adam", "digits")["note"] == "the FID stage is off (fid.activate: false)"
    assert claim(claims, "toy_sgda_collapses", "toy")["note"] == "the toy stage is off"
    assert claim(claims, "toy_nsgda_global_trend", "toy across d")["verdict"] == SKIPPED
    assert claim(claims, "ng_simple_gan_better", "gan")["note"] == "the natgrad stage is off"
    assert claim(claims, "ng_flow_monotone", "natgrad")["note"] == "the natgrad stage is off"
    assert claim(claims, "adam_norm_constant", "digits")["verdict"] == HOLDS   # norms need no FID
    nothing = aggregate(study_plan({}, []), root)
    assert list(nothing) == ["claims"] and set(nothing["claims"]["verdict"]) == {SKIPPED}


# --- the intervals: exact coverage on synthetic seeds with a known effect ---------------------

STUDIES = 200


def test_shift_interval_covers_a_known_log_ratio() -> None:
    """200 synthetic studies of 8 vs 8 seeds, log-normal finals, true factor 1.5: ~95% coverage."""
    rng = np.random.default_rng(0)
    true = math.log(1.5)
    hits = 0
    for _ in range(STUDIES):
        x, y = rng.normal(true, 0.4, 8), rng.normal(0.0, 0.4, 8)
        _, low, high = shift_interval(x, y)
        hits += low <= true <= high
    assert 0.91 <= hits / STUDIES <= 0.99, hits


def test_median_and_share_intervals_cover_known_values() -> None:
    rng = np.random.default_rng(1)
    medians = [median_interval(rng.exponential(1.0, 10)) for _ in range(STUDIES)]
    assert 0.91 <= np.mean([low <= math.log(2) <= high for _, low, high in medians]) <= 1.0
    shares = [share_interval(int(rng.binomial(16, 0.3)), 16) for _ in range(STUDIES)]
    assert 0.92 <= np.mean([low <= 0.3 <= high for _, low, high in shares]) <= 1.0


def test_intervals_on_too_few_seeds_or_worst_values() -> None:
    assert shift_interval(np.arange(3.0), np.arange(3.0))[1:] == (-math.inf, math.inf)   # 3 vs 3: no 95% level
    assert median_interval(np.arange(5.0))[1:] == (-math.inf, math.inf)
    worst = np.full(6, math.inf)
    assert shift_interval(worst, np.arange(6.0)) == (math.inf, math.inf, math.inf)
    assert shift_interval(worst, worst) == (0.0, 0.0, 0.0)   # both at the worst value: no difference
    assert share_interval(0, 0)[0] != share_interval(0, 0)[0]   # NaN: nothing to share
    assert set(VERDICTS) == {HOLDS, FAILS, INCONCLUSIVE, SKIPPED}


def test_missing_run_file_names_the_rule(synthetic) -> None:
    root, plan = synthetic
    (root / "results" / "gan" / "digits" / "adam" / "seed1" / "fid.json").unlink()
    with pytest.raises(DataMissingError, match=r"seed1/fid.json is missing: run rule compute_fid first"):
        load.load_quality(plan, root)


def test_figures_and_report_on_synthetic_runs(synthetic) -> None:
    root, plan = synthetic
    tables = aggregate(plan, root)
    runs = tables["gan_runs"]
    norms = load.load_norms(plan, root)
    written = draw_all(plan, root, runs, load.load_quality(plan, root), norms, build.norm_cv(norms, 0.1))
    assert sorted(written) == sorted(root / f.path for f in plan.figures())
    assert all(p.read_bytes().startswith(PNG) for p in written)
    (root / "results" / "tables").mkdir()
    for table in plan.tables():
        tables[Path(table.path).stem].to_csv(root / table.path, index=False)
    text = render(plan, tables["claims"], tables["gan_summary"], "abc123")
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert {str(Path(f.path).relative_to("results")) for f in plan.figures()} <= set(links)
    assert all((root / "results" / link).is_file() for link in links)
    assert "| AdaLR (Adam's norm, SGD's direction) is as good as Adam | AdaLR is as good as Adam" in text
    assert "does not hold" in text and "adadir is not among gan.optimizers" in text
    assert "Hodges-Lehmann" in text and f"| {FLOOR:g} |" in text   # the method, and the FID floor beside FIDs


@pytest.mark.parametrize("name, content", [("gan/ring8/adam/seed0/norms.csv", "garbage\n"),
                                           ("toy/sweep.csv", ""), ("natgrad/rps/ng.csv", "a,b\n1,2\n")])
def test_a_corrupt_stage_csv_is_one_line_naming_it(synthetic, name, content) -> None:
    root, plan = synthetic
    (root / "results" / name).write_text(content)
    with pytest.raises(BadFileError, match=f"{name}' .*rerun rule"):
        aggregate(plan, root)


def test_step_size_tuned_at_the_grid_edge_makes_the_comparison_inconclusive(synthetic) -> None:
    """sgda's tuned step is the largest of its grid on digits: "SGDA worse than Adam" (which holds
    otherwise) is inconclusive there, with the reason; ring8 is untouched; gan_summary shows it."""
    root, plan = synthetic
    for seed in range(SEEDS):
        path = root / "results" / "gan" / "digits" / "sgda" / f"seed{seed}" / "run.json"
        run = json.loads(path.read_text())
        run["resolved"]["grid_edge"] = "highest"
        path.write_text(json.dumps(run))
    tables = aggregate(plan, root)
    row = claim(tables["claims"], "sgda_worse_than_adam", "digits")
    assert row["verdict"] == INCONCLUSIVE and row["ci_low"] >= 1.25  # the effect alone would hold
    assert "tuned step size at the edge of its grid: sgda highest (0.001)" in row["note"]
    assert claim(tables["claims"], "sgda_worse_than_adam", "ring8")["verdict"] == HOLDS
    summary = tables["gan_summary"].set_index(["dataset", "optimizer"])
    assert summary.loc[("digits", "sgda"), "grid_edge"] == "highest"
    assert pd.isna(summary.loc[("digits", "adam"), "grid_edge"])


def test_claims_html_has_one_escaped_row_per_claim(synthetic) -> None:
    root, plan = synthetic
    claims = aggregate(plan, root)["claims"]
    text = claims_html(claims)
    assert text.count("<tr>") == len(claims) + 1 and text.count("<td>does not hold</td>") == (
        claims["verdict"] == FAILS).sum() > 0
    assert "Adam&#x27;s norm" in text and "Adam's" not in text


def test_every_reported_output_has_a_caption(synthetic) -> None:
    _, plan = synthetic
    for out in plan.tables() + plan.figures():
        assert (REPO / "workflow" / "report" / f"{out.caption}.rst").is_file(), out


# --- on the smoke study (the whole DAG of config/smoke.yaml, run once per session) --------------

def test_smoke_report_links_existing_files(smoke_study: Path) -> None:
    results = smoke_study / "results"
    text = (results / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links and all((results / link).is_file() for link in links), links
    assert {p.name for p in (results / "figures").glob("*.png")} == {Path(l).name for l in links if l.endswith(".png")}
    claims = pd.read_csv(results / "tables" / "claims.csv")
    assert set(claims["verdict"]) <= set(VERDICTS)
    assert (claims.loc[claims["verdict"] == SKIPPED, "note"].str.len() > 0).all()


def test_smoke_figures_are_pngs(smoke_study: Path) -> None:
    import matplotlib.image

    figures = sorted((smoke_study / "results" / "figures").glob("*.png"))
    assert len(figures) >= 10
    for path in figures:
        assert path.read_bytes().startswith(PNG), path
        assert matplotlib.image.imread(path).shape[0] > 100, path


@pytest.fixture(scope="module")
def html_report(smoke_study: Path) -> Path:
    """`snakemake --report results/report.html` on the smoke study."""
    html = smoke_study / "results" / "report.html"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(smoke_study), "--configfile", str(REPO / "config" / "smoke.yaml"), "--report",
                           str(html)], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return html


def test_snakemake_report_writes_html(html_report: Path) -> None:
    text = html_report.read_text(errors="replace")
    assert html_report.stat().st_size > 100_000 and "claims.csv" in text and "quality_digits.png" in text


@needs_chromium
def test_html_report_shows_the_claims_table_first(html_report: Path, smoke_study: Path, tmp_path: Path) -> None:
    """The report's first page, rendered by Chromium, holds the claims table: one row per claim."""
    shot = tmp_path / "report.png"
    chromium(html_report.as_uri(), tmp_path / "profile", f"--screenshot={shot}", size="1400,1400")
    assert_not_blank(shot)
    dom = chromium(html_report.as_uri(), tmp_path / "profile", "--dump-dom")
    table = re.search(r'<table class="claims">(.*?)</table>', dom, re.DOTALL)
    assert table, "no claims table on the report's first page"
    claims = pd.read_csv(smoke_study / "results" / "tables" / "claims.csv")
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL)
    verdict = re.findall(r"<th>(.*?)</th>", rows[0]).index("verdict")
    assert [re.findall(r"<td>(.*?)</td>", row)[verdict] for row in rows[1:]] == list(claims["verdict"])


def test_smoke_study_parent_run_holds_the_report(smoke_study: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_study}/results/mlflow.db")
    exp = client.get_experiment_by_name("ganopt-smoke")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    parent = next(r for r in runs if r.data.tags.get("ganopt.role") == "study")
    artifacts = {a.path for folder in ("tables", "figures", "report") for a in client.list_artifacts(
        parent.info.run_id, folder)}
    assert {"tables/claims.csv", "report/report.md"} <= artifacts
    assert any(a.startswith("figures/") for a in artifacts)
    by_id = {r.info.run_id: r for r in runs}
    fid_runs = [r for r in runs if r.info.run_name.startswith("compute_fid/")]   # stay under their training run
    assert fid_runs and all(by_id[r.data.tags["mlflow.parentRunId"]].info.run_name.startswith("train_gan/")
                            for r in fid_runs)
    assert all("mlflow.parentRunId" in r.data.tags for r in runs if r.info.run_id != parent.info.run_id)


def test_toy_contrast_counts_only_discordant_pairs() -> None:
    """Pairs where both or neither recover tell nothing about which is better: 3 wins, 3 losses of 6
    discordant pairs is a share of 0.5, inconclusive; the pairs match on d, u_cos and seed."""
    from ganopt.report.toy_claims import _contrast

    rows = [{"optimizer": opt, "d": 50, "u_cos": 0.4, "seed": seed, "both_modes": won}
            for seed in range(10)
            for opt, won in (("sgda", seed in (0, 1, 2, 6, 7)), ("nsgda_layer", seed in (3, 4, 5, 6, 7)))]
    plan = study_plan({"study": "t"}, ["results/toy/sgda.json", "results/toy/nsgda_layer.json"])
    row = _contrast(plan, pd.DataFrame(rows), [50], "toy_nsgda_layer_beats_sgda", "nsgda_layer")
    assert (row["effect"], row["n"], row["verdict"]) == (0.5, 6, INCONCLUSIVE)
    assert row["note"].startswith("3 pairs only nsgda_layer recovers both modes, 3 only SGDA, 2 both, 2 neither")


def test_clustered_share_interval_covers_on_clustered_runs() -> None:
    """Seeds as clusters: 16 seeds x 3 settings with beta-binomial success (intra-seed correlation
    rho), 400 synthetic studies each: the Korn-Graubard interval covers the true share in >= 93%, the
    Clopper-Pearson interval that treats the 48 runs as independent falls short at high rho; with one
    run per seed the clustered interval is exactly Clopper-Pearson's."""
    from ganopt.stats import clustered_share_interval

    rng = np.random.default_rng(1)
    for p, rho in ((0.3, 0.3), (0.5, 0.7), (0.15, 0.7)):
        clustered = naive = 0
        for _ in range(400):
            y = rng.binomial(3, rng.beta(p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho, 16))
            _, low, high, design = clustered_share_interval(y, np.full(16, 3))
            clustered += low <= p <= high
            _, low, high = share_interval(int(y.sum()), 48)
            naive += low <= p <= high
        assert clustered / 400 >= 0.93, (p, rho, clustered / 400)
        if rho >= 0.7:
            assert naive / 400 < 0.9, (p, rho, naive / 400)
    y = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    assert clustered_share_interval(y, np.ones(8))[:3] == share_interval(6, 8)
    share, low, high, design = clustered_share_interval(np.zeros(16), np.full(16, 3))
    assert (share, low, design) == (0.0, 0.0, pytest.approx(3 * (stats.t.ppf(0.975, 15) / stats.norm.ppf(0.975)) ** 2))
    assert high == pytest.approx(share_interval(0, 16)[2], rel=0.2) and high > share_interval(0, 48)[2]


def test_report_jobs_load_neither_torch_nor_mlflow():
    """The report's jobs (aggregate, figures, study-report) read tables: importing them costs no torch
    (~1.2 s per job) and no MLflow; the toy's and natgrad's results are read torch-free too."""
    code = ("import sys, ganopt.report.jobs, ganopt.report.figures, ganopt.report.study_run, ganopt.provenance; "
            "print(sorted(m for m in ('torch', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
