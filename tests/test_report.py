"""The study report: tables and claims computed right on small synthetic run folders (a claim that
holds, one that does not, ones not evaluated), figures and report.md on them, and on the smoke
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
import yaml
from scipy import stats

from ganopt.errors import DataMissingError
from ganopt.report.claims import FAILS, HOLDS, SKIPPED, worse_ratio
from ganopt.report.config import ReportConfig
from ganopt.report.document import render
from ganopt.report.figures import draw_all
from ganopt.report.jobs import aggregate
from ganopt.report.plan import study_plan
from ganopt.report import runs as load
from ganopt.report import tables as build

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

# Synthetic GAN finals: (dataset, optimizer) -> final metric per seed (None = diverged run).
DIGITS = {"adam": [40.0, 42.0, 38.0], "adalr": [41.0, 45.0, 39.0], "sgda": [100.0, 90.0, None]}
RING8 = {"adam": [8, 7, 8], "adalr": [2, 3, 1], "sgda": [0, 0, 0]}
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
    else:
        early = {"status": "ok", "modes_covered": 1, "n_modes": 8, "high_quality_frac": 0.1, "frechet_data": 2.0}
        last = {"status": "ok", "modes_covered": final, "n_modes": 8, "high_quality_frac": final / 10,
                "frechet_data": 1.0 / (1 + final)}
    records = [{"step": 50, "final": False, "file": "snapshots/step50.pt", **early},
               {"step": 60 if diverged else 100, "final": True, "file": "checkpoint.pt", **last}]
    _write(folder / "fid.json", json.dumps({"records": records, "run_status": "diverged" if diverged else "ok"}))
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
    """sgda: collapse cos peaks at 0.95 (step 10); nsgda_global: 2 of 4 seeds recover both modes at the end."""
    for optimizer in ("sgda", "nsgda_global"):
        rows = []
        for seed in range(4):
            for step in (0, 10, 20):
                if optimizer == "sgda":
                    cos, rec = {0: 0.2, 10: 0.95, 20: 0.7}[step], (0.0, 0.05)
                else:
                    cos, rec = 0.3, ((0.3, 0.25) if seed < 2 and step == 20 else (0.1, 0.0))
                rows.append({"optimizer": optimizer, "setting": 0, "lr_g": 0.1, "lr_d": 0.01, "seed": seed,
                             "step": step, "recovery/u1/all": rec[0], "recovery/u2/all": rec[1],
                             "collapse_cos/all": cos, "xi_ratio/all": 1.0, "recovery/u1/moved": rec[0],
                             "recovery/u2/moved": rec[1], "collapse_cos/moved": cos, "xi_ratio/moved": 1.0,
                             "moved_frac": 1.0})
        folder = root / "results" / "toy"
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / f"{optimizer}.csv", index=False)
        _write(folder / f"{optimizer}.json", json.dumps({"config": {"both_modes_min": 0.2}}))
    (root / "results" / "toy" / "compare.png").write_bytes(PNG + b"synthetic")


def _natgrad(root: Path) -> None:
    """rps: ng monotone in 3 of 4 regularized runs (lam 1; lam 0 runs rise and are ignored);
    gda rises in 1 of 4 (does not hold at 0.5); gan: ng's final V is 0.25-0.5 of gda's (median ratio 0.5),
    ng never rises, gda always does, every run full rank."""
    folder = root / "results" / "natgrad"
    rps = {"ng": [0, 0, 0, 5], "gda": [0, 0, 0, 7]}
    for method, rises in rps.items():
        rows = [{"method": method, "lam": lam, "init": init, "step": step, "V": 0.2 / (1 + step),
                 "rises": rises[init] if lam > 0 else 9}
                for lam in (0.0, 1.0) for init in range(4) for step in (0, 5, 10)]
        (folder / "rps").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / "rps" / f"{method}.csv", index=False)
    for method, v_end in {"ng": [0.1, 0.2, 0.3], "gda": [0.4, 0.4, 0.6]}.items():
        rows = [{"method": method, "init": init, "step": step, "V": v_end[init] * (2 - step / 10),
                 "rises": 0 if method == "ng" else 3, "sigma_G_min": 0.1, "sigma_D_min": 0.2, "full_rank": True}
                for init in range(3) for step in (0, 10)]
        (folder / "gan").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / "gan" / f"{method}.csv", index=False)
    (folder / "rps" / "V.png").write_bytes(PNG + b"synthetic")


@pytest.fixture
def synthetic(tmp_path: Path):
    """A study folder with GAN runs (2 datasets x adam/adalr/sgda x 3 seeds), toy and natgrad outputs,
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
    targets += ["results/toy/sgda.csv", "results/toy/nsgda_global.csv", "results/toy/compare.png",
                "results/toy/summary.csv", "results/natgrad/rps/ng.csv", "results/natgrad/rps/gda.csv",
                "results/natgrad/rps/V.png", "results/natgrad/gan/ng.csv", "results/natgrad/gan/gda.csv"]
    return tmp_path, study_plan({"study": "synthetic"}, targets)


def claim(claims: pd.DataFrame, id_: str, scope: str) -> pd.Series:
    rows = claims[(claims["id"] == id_) & (claims["scope"] == scope)]
    assert len(rows) == 1, (id_, scope, claims[["id", "scope"]])
    return rows.iloc[0]


def test_plan_reads_the_stages_off_their_targets(synthetic) -> None:
    _, plan = synthetic
    assert plan.datasets == ("digits", "ring8") and plan.optimizers == ("adam", "adalr", "sgda")
    assert plan.seeds == (0, 1, 2) and plan.fid and plan.toy == ("sgda", "nsgda_global")
    assert [Path(t.path).stem for t in plan.tables()] == ["gan_runs", "gan_summary", "adam_norms", "toy_summary",
                                                          "natgrad_summary", "claims"]
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
    half = stats.t.ppf(0.975, 2) * x.std(ddof=1) / math.sqrt(3)
    assert adam["final_fid_domain_mean"] == pytest.approx(x.mean())
    assert adam["final_fid_domain_std"] == pytest.approx(x.std(ddof=1))
    assert adam["final_fid_domain_median"] == pytest.approx(40.0)
    assert adam["final_fid_domain_ci95_low"] == pytest.approx(x.mean() - half)
    assert adam["final_fid_domain_ci95_high"] == pytest.approx(x.mean() + half)
    assert adam["best_fid_domain_min"] == pytest.approx(38.0) and adam["metric"] == "fid_domain"
    sgda = summary.loc[("digits", "sgda")]
    assert (sgda["diverged"], sgda["final_fid_domain_n"], sgda["final_fid_domain_mean"]) == (1, 2, 95.0)
    # the diverged seed still has a best value: its early snapshot (502)
    assert (sgda["best_fid_domain_n"], sgda["best_fid_domain_max"]) == (3, 502.0)
    assert sgda["collapsed"] == 0          # 100 and 90 are below 5 x 40 (the best median final FID)
    ring = summary.loc[("ring8", "adalr")]
    assert ring["best_modes_covered_median"] == pytest.approx(2.0)     # best = max for modes
    assert (summary.loc[("ring8", "sgda"), "collapsed"], ring["collapsed"]) == (3, 1)   # <= 1 mode covered


def test_claims_table_verdicts(synthetic) -> None:
    root, plan = synthetic
    claims = aggregate(plan, root)["claims"]
    # digits: adalr 41 vs adam 40 -> ratio 1.025 <= 1.25 holds; sgda median of (100, 90, worst) = 100 -> 2.5
    row = claim(claims, "adalr_as_good_as_adam", "digits")
    assert (row["value"], row["verdict"], row["threshold"]) == (pytest.approx(41 / 40), HOLDS, "<= 1.25")
    row = claim(claims, "sgda_worse_than_adam", "digits")
    assert (row["value"], row["verdict"]) == (pytest.approx(2.5), HOLDS)
    # ring8 (modes covered, higher is better): adalr median 2 vs adam 8 -> 4x worse: does not hold
    row = claim(claims, "adalr_as_good_as_adam", "ring8")
    assert (row["value"], row["verdict"]) == (pytest.approx(4.0), FAILS)
    assert claim(claims, "sgda_worse_than_adam", "ring8")["value"] == math.inf
    # optimizers outside the study are not evaluated, with the reason
    row = claim(claims, "adadir_worse_than_adam", "digits")
    assert row["verdict"] == SKIPPED and "adadir is not among gan.optimizers" in row["note"]
    assert math.isnan(row["value"])
    # Adam's weight norms: ring8 alternates 1.0/1.2 after warm-up (CV 0.0907), digits grows (CV ~0.38...)
    w = np.array([1.0 if s % 20 else 1.2 for s in NORM_STEPS if s > 10])
    row = claim(claims, "adam_norm_constant", "ring8")
    assert (row["value"], row["verdict"]) == (pytest.approx(w.std() / w.mean()), HOLDS)
    g = np.array([s / 10 for s in NORM_STEPS if s > 10])
    assert claim(claims, "adam_norm_constant", "digits")["value"] == pytest.approx(g.std() / g.mean())
    # toy: sgda peak collapse 0.95 >= 0.9; nsgda_global 2/4 seeds >= 0.5; nsgda_layer not run
    row = claim(claims, "toy_sgda_collapses", "toy")
    assert (row["value"], row["verdict"]) == (pytest.approx(0.95), HOLDS)
    row = claim(claims, "toy_nsgda_global_recovers", "toy")
    assert (row["value"], row["verdict"]) == (pytest.approx(0.5), HOLDS)
    assert claim(claims, "toy_nsgda_layer_recovers", "toy")["verdict"] == SKIPPED
    # natgrad: rps ng 3/4 monotone < 0.8 -> does not hold; gda 1/4 rising < 0.5 -> does not hold; warmup absent
    row = claim(claims, "ng_lyapunov_monotone", "rps")
    assert (row["value"], row["verdict"]) == (pytest.approx(0.75), FAILS)
    assert claim(claims, "gda_lyapunov_not_monotone", "rps")["value"] == pytest.approx(0.25)
    row = claim(claims, "ng_lyapunov_monotone", "warmup")
    assert row["verdict"] == SKIPPED and "did not run" in row["note"]
    row = claim(claims, "ng_simple_gan_better", "gan")
    assert (row["value"], row["verdict"]) == (pytest.approx(0.5), HOLDS)   # per-seed ratios 0.25, 0.5, 0.5
    assert "n = 3" in row["note"]
    for id_ in ("ng_gan_lyapunov_monotone", "gda_gan_lyapunov_not_monotone"):
        assert (claim(claims, id_, "gan")["value"], claim(claims, id_, "gan")["verdict"]) == (1.0, HOLDS)
    assert set(claims["verdict"]) == {HOLDS, FAILS, SKIPPED}


def test_norms_threshold_and_tensor_choice_come_from_config(synthetic) -> None:
    root, plan = synthetic
    strict = dataclasses.replace(plan, report=dataclasses.replace(
        plan.report, norm_tensors="all", claims=dataclasses.replace(plan.report.claims, norm_cv_max=0.05)))
    claims = aggregate(strict, root)["claims"]
    row = claim(claims, "adam_norm_constant", "ring8")
    assert row["verdict"] == FAILS and row["threshold"] == "<= 0.05"
    assert row["value"] > 0.0907   # biases (one jump to 100) now count


def test_stage_switched_off_is_not_evaluated(synthetic) -> None:
    root, plan = synthetic
    claims = aggregate(dataclasses.replace(plan, toy=(), natgrad=(), fid=False), root)["claims"]
    assert claim(claims, "adalr_as_good_as_adam", "digits")["note"] == "the FID stage is off (fid.activate: false)"
    assert claim(claims, "toy_sgda_collapses", "toy")["note"] == "the toy stage is off"
    assert claim(claims, "ng_simple_gan_better", "gan")["note"] == "the natgrad stage is off"
    assert claim(claims, "adam_norm_constant", "digits")["verdict"] == HOLDS   # norms need no FID
    nothing = aggregate(study_plan({}, []), root)
    assert list(nothing) == ["claims"] and set(nothing["claims"]["verdict"]) == {SKIPPED}


def test_worse_ratio_orients_by_metric() -> None:
    assert worse_ratio(np.array([50.0]), np.array([25.0]), "fid_domain") == 2.0
    assert worse_ratio(np.array([2.0]), np.array([8.0]), "modes_covered") == 4.0
    assert worse_ratio(np.array([0.0]), np.array([0.0]), "modes_covered") == 1.0
    assert worse_ratio(np.array([0.0]), np.array([3.0]), "modes_covered") == math.inf
    assert worse_ratio(np.array([math.inf, 30.0, math.inf]), np.array([30.0]), "fid_domain") == math.inf
    assert worse_ratio(np.array([30.0]), np.array([math.inf, 30.0, math.inf]), "fid_domain") == 0.0


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
    assert "| AdaLR (Adam's norm, SGD's direction) is as good as Adam | ring8 |" in text
    assert "does not hold" in text and "adadir is not among gan.optimizers" in text


def test_report_schema_matches_the_config_dataclasses() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "report.schema.yaml").read_text())
    fields = {f.name: f for f in dataclasses.fields(ReportConfig)}
    assert set(schema["properties"]) == set(fields)
    for section in ("collapse", "claims"):
        sub = dataclasses.fields(fields[section].default_factory())
        assert set(schema["properties"][section]["properties"]) == {f.name for f in sub}
        for f in sub:
            assert schema["properties"][section]["properties"][f.name]["default"] == f.default, f.name
    assert tuple(schema["properties"]["quality_metrics"]["default"]) == ReportConfig().quality_metrics


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
    assert set(claims["verdict"]) <= {HOLDS, FAILS, SKIPPED}
    assert (claims.loc[claims["verdict"] == SKIPPED, "note"].str.len() > 0).all()


def test_smoke_figures_are_pngs(smoke_study: Path) -> None:
    import matplotlib.image

    figures = sorted((smoke_study / "results" / "figures").glob("*.png"))
    assert len(figures) >= 10
    for path in figures:
        assert path.read_bytes().startswith(PNG), path
        assert matplotlib.image.imread(path).shape[0] > 100, path


def test_snakemake_report_writes_html(smoke_study: Path) -> None:
    html = smoke_study / "results" / "report.html"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(smoke_study), "--configfile", str(REPO / "config" / "smoke.yaml"), "--report",
                           str(html)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = html.read_text(errors="replace")
    assert html.stat().st_size > 100_000 and "claims.csv" in text and "quality_digits.png" in text


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
