"""CLI entries of the report rules: `ganopt aggregate` (tables and claims), `ganopt figures`, and
`ganopt study-report` (report.md plus the study's parent MLflow run). Each job gets the study plan
(ganopt.report.plan) in its config and reads the stages' outputs under the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ganopt import timing
from ganopt.config import from_dict
from ganopt.errors import GanoptError, StoreError
from ganopt.io import read_csv, write_csv, write_text
from ganopt.natgrad.flow_report import flow_summary
from ganopt.report import runs as load
from ganopt.report import tables as build
from ganopt.report.claims import claims_table
from ganopt.report.plan import StudyPlan
from ganopt.stats import VERDICTS


def job_plan(job: dict) -> StudyPlan:
    return from_dict(StudyPlan, job.get("plan") or {}, where="plan")


def gan_runs(plan: StudyPlan, root: Path) -> pd.DataFrame:
    """The per-run GAN table (ganopt.report.tables.gan_runs_table) from the stages' outputs under `root`."""
    return build.gan_runs_table(load.load_runs(plan, root), load.load_quality(plan, root), plan.report,
                                load.load_plateau(plan, root))


def aggregate(plan: StudyPlan, root: Path) -> dict[str, pd.DataFrame]:
    """Every table of the plan, by name, computed from the stages' outputs under `root`."""
    cfg = plan.report
    runs = gan_runs(plan, root)
    cv = build.norm_cv(load.load_norms(plan, root), cfg.norm_warmup_frac)
    toy_seeds, toy = load.load_toy(plan, root)
    natgrad = build.natgrad_runs(load.load_natgrad(plan, root)) if plan.natgrad else pd.DataFrame()
    flows = load.load_natgrad_flow(plan, root) if plan.natgrad else pd.DataFrame()
    floors = load.load_floors(plan, root)
    tables = {"gan_runs": runs, "gan_summary": build.gan_summary_table(runs, floors),
              "adam_norms": build.adam_norms_table(cv), "toy_summary": toy,
              "natgrad_summary": build.natgrad_summary_table(natgrad), "natgrad_flow": flow_summary(flows),
              "claims": claims_table(plan, runs, cv, toy_seeds, toy, natgrad, floors, flows)}
    return {Path(t.path).stem: tables[Path(t.path).stem] for t in plan.tables()}


def aggregate_job(job: dict, out: Path) -> None:
    """job = {"plan": StudyPlan fields, "tracking", "device"}; writes <out>/<table>.csv."""
    from ganopt.jobs import job_run

    plan = job_plan(job)
    with job_run(job, "aggregate", tags={"stage": "report"}) as tracker:
        with timing.phase("tables"):
            tables = aggregate(plan, Path("."))
            for name, frame in tables.items():
                write_csv(Path(out) / f"{name}.csv", frame)
        for name in tables:
            tracker.log_artifact(Path(out) / f"{name}.csv")
        verdicts = tables["claims"]["verdict"].value_counts()
        tracker.log_metrics({f"claims/{v.replace(' ', '_')}": float(verdicts.get(v, 0))
                             for v in VERDICTS}, step=0)
    with pd.option_context("display.width", 250, "display.max_colwidth", 60):
        print(tables["claims"][["id", "scope", "effect", "ci_low", "ci_high", "n", "threshold", "verdict"]]
              .to_string(index=False))


def figures_job(job: dict, out: Path) -> None:
    """job = {"plan", "tracking", "device"}; draws or copies every figure of the plan into <out>."""
    from ganopt.jobs import job_run

    plan = job_plan(job)
    wrong = {str(Path(f.path).parent) for f in plan.figures()} - {str(Path(out))}
    if wrong:
        raise GanoptError(f"figures go to {', '.join(sorted(wrong))}, not --out {out}")
    root, cfg = Path("."), plan.report
    with timing.phase("figures"):
        runs = gan_runs(plan, root)
        norms = load.load_norms(plan, root)
    from ganopt.report.figures import draw_all

    with job_run(job, "figures", tags={"stage": "report"}) as tracker:
        with timing.phase("figures"):
            written = draw_all(plan, root, runs, load.load_quality(plan, root), norms,
                               build.norm_cv(norms, cfg.norm_warmup_frac))
        tracker.log_metrics({"figures": float(len(written))}, step=0)
    print(f"figures: {len(written)} written to {out}")


def study_report_job(job: dict, out: Path) -> None:
    """job = {"plan", "tracking", "device"}; writes <out>/report.md from the tables and records the
    study's parent MLflow run (every run of the experiment nested under it, tables, figures and
    report.md as its artifacts). A store that cannot be used costs the sync, not the report: one
    warning line, and the job succeeds (so Snakemake keeps report.md)."""
    from ganopt.jobs import tracking_config
    from ganopt.provenance import git_commit
    from ganopt.report.document import claims_html, render
    from ganopt.report.study_run import record_study

    plan = job_plan(job)
    tables = {Path(t.path).stem: Path(t.path) for t in plan.tables()}
    fix = "delete it and rerun rule aggregate"
    report = Path(out) / "report.md"
    with timing.phase("report"):
        claims = read_csv(tables["claims"], ("id", "verdict"), fix, keep_default_na=False, na_values=[""])
        summary = read_csv(tables["gan_summary"], ("dataset", "optimizer"), fix) if "gan_summary" in tables else None
        write_text(report, render(plan, claims, summary, git_commit(Path(__file__).parent)))
        write_text(Path(out) / "claims.html", claims_html(claims))  # the Snakemake HTML report's first page
    with timing.phase("mlflow"):  # the one sync of every job's run journal, and the study's parent run
        try:
            parent = record_study(tracking_config(job), plan.study, {
                "tables": list(tables.values()), "figures": [Path(f.path) for f in plan.figures()],
                "report": [report, Path(out) / "claims.html"]})
        except StoreError as exc:
            print(f"ganopt study-report: warning: not synced: {exc}", file=sys.stderr)
            parent = "none (not synced)"
    print(f"study report: {report}; MLflow parent run: {parent}")
